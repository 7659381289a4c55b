import type { Redis } from 'ioredis';

/**
 * Slot reservations for the caps (`MAX_JOBS_PER_USER`, `MAX_QUEUE`), kept in Redis so they hold across every bot
 * process, and taken atomically (one Lua script) before any slow call:
 *
 *   deepdream:slots:owner        HASH  jobId → userId     every reservation
 *   deepdream:slots:pending      ZSET  jobId → deadline   reserved, not yet in BullMQ (counts as waiting)
 *   deepdream:slots:user:<id>    SET   jobIds             the member's open jobs (reserved, waiting or running)
 *   deepdream:slots:owner:units  HASH  jobId → units      what a job counts for in the member's cap (absent: 1)
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
 */
export const SLOT_KEYS = {
  owner: 'deepdream:slots:owner',
  pending: 'deepdream:slots:pending',
  userPrefix: 'deepdream:slots:user:',
} as const;

const COMMON = `
local owner, pending = KEYS[1], KEYS[2]
local userPrefix, jobPrefix = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local units = owner .. ':units'

local function release(id)
  local u = redis.call('HGET', owner, id)
  if u then redis.call('SREM', userPrefix .. u, id) end
  redis.call('HDEL', owner, id)
  redis.call('HDEL', units, id)
  redis.call('ZREM', pending, id)
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

/** KEYS: owner, pending, wait, paused, prioritized. ARGV: userPrefix, jobPrefix, userId, jobId, ttlMs, maxPerUser, maxQueue, units. */
const RESERVE =
  COMMON +
  `
local userId, jobId = ARGV[3], ARGV[4]
local ttl, maxPerUser, maxQueue, cost = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
expire()
local userKey = userPrefix .. userId
local held = redis.call('SMEMBERS', userKey)
settle(held)
local mine = 0
for _, id in ipairs(redis.call('SMEMBERS', userKey)) do mine = mine + (tonumber(redis.call('HGET', units, id)) or 1) end
if mine + cost > maxPerUser then return {'user_limit', mine} end
local waiting = redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4]) + redis.call('ZCARD', KEYS[5]) + redis.call('ZCARD', pending)
if waiting >= maxQueue then return {'queue_full', waiting} end
redis.call('SADD', userKey, jobId)
redis.call('HSET', owner, jobId, userId)
if cost ~= 1 then redis.call('HSET', units, jobId, cost) end
redis.call('ZADD', pending, now + ttl, jobId)
return {'ok', waiting}
`;

/** KEYS: owner, pending. ARGV: userPrefix, jobPrefix, userId, jobId. The job is in BullMQ now (unless it already ended). */
const CONFIRM =
  COMMON +
  `
local userId, jobId = ARGV[3], ARGV[4]
if ended(jobId) then release(jobId) return 0 end
redis.call('ZREM', pending, jobId)
redis.call('HSET', owner, jobId, userId)
redis.call('SADD', userPrefix .. userId, jobId)
return 1
`;

/** KEYS: owner, pending. ARGV: userPrefix, jobPrefix, jobId. */
const RELEASE =
  COMMON +
  `
local held = redis.call('HEXISTS', owner, ARGV[3])
release(ARGV[3])
return held
`;

/** KEYS: owner, pending. ARGV: userPrefix, jobPrefix. Returns how many reservations it let go. */
const SWEEP =
  COMMON +
  `
local before = redis.call('HLEN', owner)
expire()
settle(redis.call('HKEYS', owner))
return before - redis.call('HLEN', owner)
`;

type Reply = [string, number];

interface SlotCommands {
  deepdreamReserve(...args: (string | number)[]): Promise<Reply>;
  deepdreamConfirm(...args: (string | number)[]): Promise<number>;
  deepdreamRelease(...args: (string | number)[]): Promise<number>;
  deepdreamSweep(...args: (string | number)[]): Promise<number>;
}

export type Reservation = { kind: 'ok'; waiting: number } | { kind: 'user_limit'; mine: number } | { kind: 'queue_full'; waiting: number };

/** Where BullMQ keeps a queue's waiting jobs, and the prefix of its job hashes (`bull:<queue>:<id>`). */
export interface QueueKeys {
  wait: string;
  paused: string;
  prioritized: string;
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
    redis.defineCommand('deepdreamReserve', { numberOfKeys: 5, lua: RESERVE });
    redis.defineCommand('deepdreamConfirm', { numberOfKeys: 2, lua: CONFIRM });
    redis.defineCommand('deepdreamRelease', { numberOfKeys: 2, lua: RELEASE });
    redis.defineCommand('deepdreamSweep', { numberOfKeys: 2, lua: SWEEP });
  }

  private get base(): string[] {
    return [SLOT_KEYS.owner, SLOT_KEYS.pending];
  }

  private get prefixes(): string[] {
    return [SLOT_KEYS.userPrefix, this.queueKeys.jobPrefix];
  }

  /**
   * Takes the member's slots and a queue slot for `jobId`, or says which cap is reached. `cost` (default 1) is what the
   * job counts for in the member's cap (a zoom counts as several dreams), at most the whole cap.
   */
  async reserve(userId: string, jobId: string, limits: { maxPerUser: number; maxQueue: number }, cost = 1): Promise<Reservation> {
    const { wait, paused, prioritized } = this.queueKeys;
    const units = Math.min(Math.max(1, Math.ceil(cost)), limits.maxPerUser);
    const [kind, n] = await this.redis.deepdreamReserve(...this.base, wait, paused, prioritized, ...this.prefixes, userId, jobId, this.ttlMs, limits.maxPerUser, limits.maxQueue, units);
    if (kind === 'user_limit') return { kind, mine: n };
    if (kind === 'queue_full') return { kind, waiting: n };
    return { kind: 'ok', waiting: n };
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
