import type { Redis } from 'ioredis';

/**
 * Slot reservations for the caps (`MAX_JOBS_PER_USER`, `MAX_QUEUE`), kept in Redis so they hold across every bot
 * process, and taken atomically (one Lua script) before any slow call:
 *
 *   deepdream:slots:owner        HASH  jobId → userId     every reservation
 *   deepdream:slots:pending      ZSET  jobId → deadline   reserved, not yet in BullMQ (counts as waiting)
 *   deepdream:slots:user:<id>    SET   jobIds             the member's open jobs (reserved, waiting or running)
 *   deepdream:slots:owner:units  HASH  jobId → units      what a job counts for in the member's cap (absent: 1)
 *   deepdream:slots:owner:seq    HASH  jobId → n          reservation order (fair turns; absent: 0)
 *   deepdream:slots:owner:next   STRING                   the last n given
 *
 * A job's life: `reserve` (checks both caps and takes both slots, or refuses) → the job is shown and added to
 * BullMQ → `confirm` (no longer pending: the BullMQ wait list counts it from here; `reserve` also treats a pending
 * reservation whose job exists as confirmed, so a job never counts twice) → `release` at its end (done, failed,
 * cancelled, refused after reserving). The queue slot of a confirmed job frees itself when a worker takes
 * it (it leaves BullMQ's wait list); the member's slot is held until the end.
 *
 * Nothing can leak for long: `reserve` first repairs what concerns it. A pending reservation past its deadline
 * without a job never will have one (its bot died between reserve and add): it is dropped. The member's reservations whose job is gone or finished (an end no bot
 * heard, e.g. while every bot was down) are released. `sweep` does the same for every member (at start-up).
 * Times are Redis's own clock (TIME), so bots on different machines agree on deadlines.
 *
 * Fair turns (see fair-turns.ts) live here too, as BullMQ priorities: a job's priority is its turn, 1 + its member's
 * open jobs reserved before it. `reserve` gives the new job its turn (and its place: the jobs that run before it);
 * whenever a reservation is let go (its job ended, or was cancelled), the member's later jobs waiting in BullMQ move
 * up a turn, re-added to BullMQ's prioritized set exactly as BullMQ's own changePriority does (a new counter: the
 * back of the new turn). It is done in the same script as the release, so however many bot processes hear a job end,
 * its member's jobs move once; `confirm` and `sweep` set the turns again (a job added with a turn that went stale
 * between its reservation and its add). This reads BullMQ's prioritized score (priority × 2^32 + counter), as BullMQ
 * 5 writes it.
 */
export const SLOT_KEYS = {
  owner: 'deepdream:slots:owner',
  pending: 'deepdream:slots:pending',
  userPrefix: 'deepdream:slots:user:',
} as const;

const COMMON = `
local owner, pending, prioritized, pc = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local userPrefix, jobPrefix = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local units = owner .. ':units'
local seqs = owner .. ':seq'
local PRIORITY = 0x100000000

-- A job's turn: 1 + its member's open jobs reserved before it.
local function turnOf(userId, id)
  local mine = tonumber(redis.call('HGET', seqs, id)) or 0
  local turn = 1
  for _, other in ipairs(redis.call('SMEMBERS', userPrefix .. userId)) do
    local s = tonumber(redis.call('HGET', seqs, other)) or 0
    if other ~= id and (s < mine or (s == mine and other < id)) then turn = turn + 1 end
  end
  return turn
end

-- The member's jobs waiting in BullMQ take their turns (priorities); a job whose turn changed goes to the back of it.
local function retake(userId)
  for _, id in ipairs(redis.call('SMEMBERS', userPrefix .. userId)) do
    local score = redis.call('ZSCORE', prioritized, id)
    if score then
      local turn = turnOf(userId, id)
      if math.floor(tonumber(score) / PRIORITY) ~= turn then
        local counter = redis.call('INCR', pc)
        redis.call('ZADD', prioritized, turn * PRIORITY + counter % PRIORITY, id)
        redis.call('HSET', jobPrefix .. id, 'priority', turn)
      end
    end
  end
end

local function release(id)
  local u = redis.call('HGET', owner, id)
  if u then redis.call('SREM', userPrefix .. u, id) end
  redis.call('HDEL', owner, id)
  redis.call('HDEL', units, id)
  redis.call('HDEL', seqs, id)
  redis.call('ZREM', pending, id)
  if u then retake(u) end
end

-- A job that is gone or finished holds no slot.
local function ended(id)
  local job = jobPrefix .. id
  return redis.call('EXISTS', job) == 0 or redis.call('HEXISTS', job, 'finishedOn') == 1
end

-- Pending reservations whose job is in BullMQ already are confirmed (BullMQ's lists count them from there, so they
-- never count twice); those past their deadline without a job never will have one (their bot died): dropped.
local function expire()
  local all = redis.call('ZRANGE', pending, 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    local id, deadline = all[i], tonumber(all[i + 1])
    if redis.call('EXISTS', jobPrefix .. id) == 1 then redis.call('ZREM', pending, id)
    elseif deadline <= now then release(id) end
  end
end

-- Confirmed reservations whose job ended unheard.
local function settle(ids)
  for _, id in ipairs(ids) do
    if not redis.call('ZSCORE', pending, id) and ended(id) then release(id) end
  end
end
`;

/**
 * KEYS: owner, pending, prioritized, pc, wait, paused. ARGV: userPrefix, jobPrefix, userId, jobId, ttlMs, maxPerUser,
 * maxQueue, units. Returns the kind, the jobs waiting, the jobs that will run before this one, and its turn.
 */
const RESERVE =
  COMMON +
  `
local userId, jobId = ARGV[3], ARGV[4]
local ttl, maxPerUser, maxQueue, cost = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
expire()
local userKey = userPrefix .. userId
local held = redis.call('SMEMBERS', userKey)
settle(held)
local open = redis.call('SMEMBERS', userKey)
local mine = 0
for _, id in ipairs(open) do mine = mine + (tonumber(redis.call('HGET', units, id)) or 1) end
if mine + cost > maxPerUser then return {'user_limit', mine} end
local unprioritized = redis.call('LLEN', KEYS[5]) + redis.call('LLEN', KEYS[6])
local waiting = unprioritized + redis.call('ZCARD', prioritized) + redis.call('ZCARD', pending)
if waiting >= maxQueue then return {'queue_full', waiting} end
local turn = #open + 1
-- Ahead of it: jobs without a priority (BullMQ runs them first), those in its turn or an earlier one, and
-- reservations not yet in BullMQ whose turn is no later.
local ahead = unprioritized + redis.call('ZCOUNT', prioritized, '-inf', '(' .. string.format('%.0f', (turn + 1) * PRIORITY))
for _, id in ipairs(redis.call('ZRANGE', pending, 0, -1)) do
  local u = redis.call('HGET', owner, id)
  if u and redis.call('EXISTS', jobPrefix .. id) == 0 and turnOf(u, id) <= turn then ahead = ahead + 1 end
end
redis.call('SADD', userKey, jobId)
redis.call('HSET', owner, jobId, userId)
redis.call('HSET', seqs, jobId, redis.call('INCR', owner .. ':next'))
if cost ~= 1 then redis.call('HSET', units, jobId, cost) end
redis.call('ZADD', pending, now + ttl, jobId)
return {'ok', waiting, ahead, turn}
`;

/** KEYS: owner, pending, prioritized, pc. ARGV: userPrefix, jobPrefix, userId, jobId. The job is in BullMQ now (unless it already ended). */
const CONFIRM =
  COMMON +
  `
local userId, jobId = ARGV[3], ARGV[4]
if ended(jobId) then release(jobId) return 0 end
redis.call('ZREM', pending, jobId)
redis.call('HSET', owner, jobId, userId)
redis.call('SADD', userPrefix .. userId, jobId)
retake(userId)
return 1
`;

/** KEYS: owner, pending, prioritized, pc. ARGV: userPrefix, jobPrefix, jobId. */
const RELEASE =
  COMMON +
  `
local held = redis.call('HEXISTS', owner, ARGV[3])
release(ARGV[3])
return held
`;

/** KEYS: owner, pending, prioritized, pc. ARGV: userPrefix, jobPrefix. Returns how many reservations it let go. */
const SWEEP =
  COMMON +
  `
local before = redis.call('HLEN', owner)
expire()
settle(redis.call('HKEYS', owner))
local seen = {}
for _, u in ipairs(redis.call('HVALS', owner)) do
  if not seen[u] then seen[u] = true retake(u) end
end
return before - redis.call('HLEN', owner)
`;

type Reply = [string, number, number?, number?];

interface SlotCommands {
  deepdreamReserve(...args: (string | number)[]): Promise<Reply>;
  deepdreamConfirm(...args: (string | number)[]): Promise<number>;
  deepdreamRelease(...args: (string | number)[]): Promise<number>;
  deepdreamSweep(...args: (string | number)[]): Promise<number>;
}

/**
 * `ok`: `waiting` jobs wait in all, `ahead` of them run before this one (fair turns), which waits for turn `turn`
 * (its BullMQ priority).
 */
export type Reservation = { kind: 'ok'; waiting: number; ahead: number; turn: number } | { kind: 'user_limit'; mine: number } | { kind: 'queue_full'; waiting: number };

/**
 * Where BullMQ keeps a queue's waiting jobs, its priority counter (`pc`), and the prefix of its job hashes
 * (`bull:<queue>:<id>`).
 */
export interface QueueKeys {
  wait: string;
  paused: string;
  prioritized: string;
  pc: string;
  jobPrefix: string;
}

/** The reservations, on one Redis connection. Every call is one atomic script. */
export class RedisSlots {
  private readonly redis: Redis & SlotCommands;

  constructor(
    redis: Redis,
    private readonly queueKeys: QueueKeys,
    /** How long a reservation may wait for its job to be added before it is taken as abandoned. */
    readonly ttlMs = 60_000,
  ) {
    this.redis = redis as Redis & SlotCommands;
    redis.defineCommand('deepdreamReserve', { numberOfKeys: 6, lua: RESERVE });
    redis.defineCommand('deepdreamConfirm', { numberOfKeys: 4, lua: CONFIRM });
    redis.defineCommand('deepdreamRelease', { numberOfKeys: 4, lua: RELEASE });
    redis.defineCommand('deepdreamSweep', { numberOfKeys: 4, lua: SWEEP });
  }

  private get base(): string[] {
    return [SLOT_KEYS.owner, SLOT_KEYS.pending, this.queueKeys.prioritized, this.queueKeys.pc];
  }

  private get prefixes(): string[] {
    return [SLOT_KEYS.userPrefix, this.queueKeys.jobPrefix];
  }

  /**
   * Takes the member's slots and a queue slot for `jobId`, or says which cap is reached. `cost` (default 1) is what the
   * job counts for in the member's cap (a zoom counts as several dreams), at most the whole cap.
   */
  async reserve(userId: string, jobId: string, limits: { maxPerUser: number; maxQueue: number }, cost = 1): Promise<Reservation> {
    const { wait, paused } = this.queueKeys;
    const units = Math.min(Math.max(1, Math.ceil(cost)), limits.maxPerUser);
    const [kind, n, ahead, turn] = await this.redis.deepdreamReserve(...this.base, wait, paused, ...this.prefixes, userId, jobId, this.ttlMs, limits.maxPerUser, limits.maxQueue, units);
    if (kind === 'user_limit') return { kind, mine: n };
    if (kind === 'queue_full') return { kind, waiting: n };
    return { kind: 'ok', waiting: n, ahead: ahead ?? n, turn: turn ?? 1 };
  }

  /** The job is in BullMQ: its queue slot is now its place in the wait list; the member's slot stays until its end. */
  async confirm(userId: string, jobId: string): Promise<void> {
    await this.redis.deepdreamConfirm(...this.base, ...this.prefixes, userId, jobId);
  }

  /** Frees the job's slots (any ending). True when it held any. */
  async release(jobId: string): Promise<boolean> {
    return (await this.redis.deepdreamRelease(...this.base, ...this.prefixes, jobId)) === 1;
  }

  /** Repairs every member's reservations (see the class comment); returns how many were let go. */
  sweep(): Promise<number> {
    return this.redis.deepdreamSweep(...this.base, ...this.prefixes);
  }

  /** The member's open jobs as reserved (for tests and diagnostics). */
  async held(userId: string): Promise<string[]> {
    return this.redis.smembers(SLOT_KEYS.userPrefix + userId);
  }

  /** Every reservation: job id → member (for tests and diagnostics). */
  async all(): Promise<{ owners: Record<string, string>; pending: string[] }> {
    const [owners, pending] = await Promise.all([this.redis.hgetall(SLOT_KEYS.owner), this.redis.zrange(SLOT_KEYS.pending, 0, -1)]);
    return { owners, pending };
  }
}
