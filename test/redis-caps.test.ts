import { spawn } from 'node:child_process';
import path from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startBot } from '../src/bin/compose.ts';
import { botConfig } from '../src/config.ts';
import { RedisQueue, type QueueHooks } from '../src/queue/index.ts';
import { QUEUE_NAME } from '../src/queue/redis-queue.ts';
import { SLOT_KEYS } from '../src/queue/redis-slots.ts';
import { FakeDiscord, snowflake } from './helpers/fake-discord.ts';
import { makePhotoLike } from './helpers/images.ts';
import { TestRedis } from './helpers/redis-server.ts';
import { text } from './helpers/requests.ts';

const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });
const quiet = pino({ level: 'silent' });

/** Caps with Redis, no workers: accepted jobs wait, so the caps are all that decides. */
describe('caps in Redis hold under bursts, across processes, and past a dead bot', () => {
  let redis: TestRedis;
  let fake: FakeDiscord;
  let bot: DreamBot;
  let inspect: Queue;
  let photo: Buffer;

  beforeAll(async () => {
    redis = await TestRedis.start();
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(64, 48, 'png');
    const env = {
      DATABASE_URL: 'sqlite::memory:',
      DISCORD_TOKEN: fake.token,
      DISCORD_CLIENT_ID: fake.applicationId,
      DISCORD_API: fake.apiBase,
      ATTACHMENT_URL_PREFIXES: fake.cdnBase,
      QUEUE_DRIVER: 'redis',
      REDIS_URL: redis.url,
      MAX_QUEUE: '3',
      MAX_JOBS_PER_USER: '1',
      LOG_LEVEL: 'silent',
    };
    bot = await startBot(botConfig(env), quiet);
    inspect = new Queue(QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port } });
  });

  afterAll(async () => {
    await bot?.stop();
    await inspect?.close();
    await fake?.close();
    await redis?.down();
  });

  const slots = () => (bot.queue as RedisQueue<unknown, unknown>).slots;

  /** Sends /dream for each user in the same tick; resolves with how many were queued and how many refused. */
  async function burst(users: ReturnType<typeof member>[], refusal: RegExp): Promise<{ accepted: number; refused: number }> {
    const asks = users.map((user) => fake.dispatchInteraction(fake.chatInput({ name: 'dream', user, options: { intensity: 'low' }, attachments: { image: { filename: 'p.png', bytes: photo } } })));
    const outcomes = await Promise.all(
      asks.map((i) =>
        fake.waitForRequest((r) => r.path.includes(i.token) && (/In the queue/.test(text(r)) || refusal.test(text(r))), { fromIndex: 0, timeoutMs: 15_000 }),
      ),
    );
    const accepted = outcomes.filter((r) => /In the queue/.test(text(r))).length;
    // The member is shown their place before the job is added to BullMQ (src/queue/redis-queue.ts, submit): the
    // bursts here start from an empty line, so the accepted jobs are all there once BullMQ holds that many.
    await expect.poll(() => inspect.getJobCountByTypes('waiting', 'prioritized'), { timeout: 15_000, interval: 20 }).toBe(accepted);
    return { accepted, refused: outcomes.length - accepted };
  }

  /** Waits until Redis's own clock (the one reservations' deadlines are in) has passed the job's deadline. */
  async function pastDeadline(jobId: string): Promise<void> {
    const redisClient = (await inspect.client) as unknown as Redis;
    const deadline = Number(await redisClient.zscore(SLOT_KEYS.pending, jobId));
    expect(deadline).toBeGreaterThan(0);
    const now = async () => {
      const [s, us] = await redisClient.time();
      return Number(s) * 1000 + Math.floor(Number(us) / 1000);
    };
    await expect.poll(now, { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(deadline);
  }

  async function cancelAll(): Promise<void> {
    // Waiting jobs are BullMQ's prioritized ones (fair turns: priority = the member's turn).
    for (const job of await inspect.getJobs(['waiting', 'prioritized'])) expect(await bot.queue.cancel(job.id!, (job.data as { userId: string }).userId)).toBe('cancelled');
  }

  it('MAX_JOBS_PER_USER=1: three /dreams from one member in the same tick are accepted once, in each of 20 rounds', async () => {
    const alice = member('alice');
    const counts: number[] = [];
    for (let round = 0; round < 20; round++) {
      const { accepted, refused } = await burst([alice, alice, alice], /already have 1 dream/);
      counts.push(accepted);
      expect(refused).toBe(2);
      // Cancelling releases the slot: the same member gets exactly one again next round.
      await cancelAll();
    }
    expect(counts).toEqual(Array(20).fill(1));
    expect(await slots().all()).toEqual({ owners: {}, pending: [] });
  });

  it('MAX_QUEUE=3: a burst of 8 members fills exactly 3 places, in each of 5 rounds', async () => {
    for (let round = 0; round < 5; round++) {
      const users = Array.from({ length: 8 }, (_, k) => member(`m${round}-${k}`));
      expect(await burst(users, /The queue is full \(\d+ waiting\)/)).toEqual({ accepted: 3, refused: 5 });
      expect(fake.requests.filter((r) => /The queue is full/.test(text(r))).every((r) => /\(3 waiting\)/.test(text(r)))).toBe(true);
      expect(await inspect.getJobCountByTypes('waiting', 'prioritized')).toBe(3);
      // Jobs removed behind the bot's back (no end event for them): their reservations are repaired, not leaked.
      await inspect.obliterate({ force: true });
    }
    // Those members' slots are still reserved (nobody heard their jobs end) until the repair finds the jobs gone.
    expect(Object.keys((await slots().all()).owners)).toHaveLength(15);
    expect(await slots().sweep()).toBe(15);
    expect(await slots().all()).toEqual({ owners: {}, pending: [] });
  });

  it('two bot processes racing for one member: one accepted in each of 20 rounds', async () => {
    const hooks: QueueHooks<unknown, unknown> = {
      // The owner's Discord call between reserving and adding (where the old read-then-write cap leaked).
      onPosition: () => new Promise((r) => setTimeout(r, 20)),
      onEnd: () => undefined,
    };
    const limits = { concurrency: 1, maxQueue: 10, maxPerUser: 1 };
    const [a, b] = await Promise.all([RedisQueue.start(redis.url, limits, hooks, quiet), RedisQueue.start(redis.url, limits, hooks, quiet)]);
    try {
      for (let round = 0; round < 20; round++) {
        const userId = snowflake();
        const results = await Promise.all([a, b, a, b, a, b].map((q) => q.submit({ userId, data: {} })));
        const ok = results.filter((r) => r.ok);
        expect(ok).toHaveLength(1);
        expect(results.filter((r) => !r.ok && r.refusal.kind === 'user_limit')).toHaveLength(5);
        expect(await b.cancel((ok[0] as { jobId: string }).jobId, userId)).toBe('cancelled');
      }
      expect(await slots().all()).toEqual({ owners: {}, pending: [] });
    } finally {
      await Promise.all([a.shutdown(), b.shutdown()]);
    }
  });

  it('a job that costs several dreams (a zoom) counts so in the member\'s cap, and gives it all back at its end', async () => {
    const hooks: QueueHooks<unknown, unknown> = { onPosition: () => undefined, onEnd: () => undefined };
    const q = await RedisQueue.start(redis.url, { concurrency: 1, maxQueue: 10, maxPerUser: 3 }, hooks, quiet);
    const accepted: { jobId: string; userId: string }[] = [];
    const submit = async (userId: string, cost?: number) => {
      const r = await q.submit({ userId, data: {}, cost });
      if (r.ok) accepted.push({ jobId: r.jobId, userId });
      return r;
    };
    try {
      const userId = snowflake();
      expect((await submit(userId, 2)).ok).toBe(true);
      // 2 of 3 taken: one more dream fits, a second does not; cancelling the zoom gives both units back.
      expect((await submit(userId)).ok).toBe(true);
      expect(await submit(userId)).toMatchObject({ ok: false, refusal: { kind: 'user_limit' } });
      expect(await q.cancel(accepted[0].jobId, userId)).toBe('cancelled');
      expect((await submit(userId, 2)).ok).toBe(true);
      // A job costing more than the cap counts as the whole cap: accepted alone, nothing beside it.
      const other = snowflake();
      expect((await submit(other, 5)).ok).toBe(true);
      expect(await submit(other)).toMatchObject({ ok: false, refusal: { kind: 'user_limit' } });
    } finally {
      for (const { jobId, userId } of accepted.slice(1)) await q.cancel(jobId, userId);
      await q.shutdown();
    }
    expect(await slots().all()).toEqual({ owners: {}, pending: [] });
  });

  it('a bot killed between reserve and add leaves no stuck reservation', async () => {
    // Two members' reservations, made by one bot that dies before adding their jobs: one far from its deadline, one
    // with a short one.
    const [held, dropped] = [snowflake(), snowflake()];
    const child = spawn(process.execPath, ['--import', 'tsx/esm', path.resolve('test/helpers/reserve-and-die.ts'), redis.url, `${held}:60000`, `${dropped}:300`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const reservedIds = await new Promise<Record<string, string>>((resolve, reject) => {
      const ids: Record<string, string> = {};
      child.stdout!.on('data', (d: Buffer) => {
        for (const m of d.toString().matchAll(/reserved (\S+) (\S+)/g)) ids[m[1]] = m[2];
        if (ids[held] && ids[dropped]) resolve(ids);
      });
      child.once('exit', (code) => reject(new Error(`helper exited early (${code})`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const hooks: QueueHooks<unknown, unknown> = { onPosition: () => undefined, onEnd: () => undefined };
    const q = await RedisQueue.start(redis.url, { concurrency: 1, maxQueue: 10, maxPerUser: 1 }, hooks, quiet);
    try {
      // Until its deadline the slot is held (the dead bot might have been about to add the job)...
      expect(await slots().held(held)).toEqual([reservedIds[held]]);
      expect(await q.submit({ userId: held, data: {} })).toMatchObject({ ok: false, refusal: { kind: 'user_limit' } });
      expect(await slots().held(held)).toEqual([reservedIds[held]]);
      // ...then it is dropped: the member can dream again, and nothing of the dead reservation remains.
      expect(await slots().held(dropped)).toEqual([reservedIds[dropped]]);
      await pastDeadline(reservedIds[dropped]);
      const again = await q.submit({ userId: dropped, data: {} });
      expect(again).toMatchObject({ ok: true });
      const { owners, pending } = await slots().all();
      expect(owners).toEqual({ [reservedIds[held]]: held, [(again as { jobId: string }).jobId]: dropped });
      expect(pending).toEqual([reservedIds[held]]);
      await q.cancel((again as { jobId: string }).jobId, dropped);
    } finally {
      await slots().release(reservedIds[held]);
      await q.shutdown();
    }
  });

  it('a bot killed between add and confirm: the job keeps its slots, counted once', async () => {
    const userId = snowflake();
    const q = await RedisQueue.start(redis.url, { concurrency: 1, maxQueue: 10, maxPerUser: 1 }, { onPosition: () => undefined, onEnd: () => undefined }, quiet, { reservationTtlMs: 300 });
    try {
      const reservation = await q.slots.reserve(userId, 'dead-bot-job', { maxPerUser: 1, maxQueue: 10 });
      expect(reservation).toEqual({ kind: 'ok', waiting: 0, ahead: 0, turn: 1 });
      await inspect.add('job', { userId, data: {} }, { jobId: 'dead-bot-job' });
      await pastDeadline('dead-bot-job');
      // Past its deadline, the reservation is found in BullMQ and kept: the member's cap still counts it...
      expect(await q.submit({ userId, data: {} })).toMatchObject({ ok: false, refusal: { kind: 'user_limit' } });
      expect(await slots().all()).toEqual({ owners: { 'dead-bot-job': userId }, pending: [] });
      // ...and the queue counts it once (as waiting in BullMQ), not twice.
      const other = await q.submit({ userId: snowflake(), data: {} });
      expect(other).toMatchObject({ ok: true, position: 2 });
      await inspect.obliterate({ force: true });
      expect(await q.slots.sweep()).toBe(2);
    } finally {
      await q.shutdown();
    }
  });

  it('the wait estimate counts a heavy job ahead (a zoom of cost 5) as five', async () => {
    await inspect.obliterate({ force: true });
    const shown = new Map<string, number>();
    const hooks: QueueHooks<unknown, unknown> = { onPosition: (job, _position, eta, first) => void (first && shown.set(job.id, eta)), onEnd: () => undefined };
    const q = await RedisQueue.start(redis.url, { concurrency: 1, maxQueue: 10, maxPerUser: 10 }, hooks, quiet);
    try {
      // No job has finished yet, so a cost unit is guessed at 30 s; nothing runs, so each estimate adds half a unit.
      const zoom = await q.submit({ userId: snowflake(), data: {}, cost: 5 });
      const next = await q.submit({ userId: snowflake(), data: {} });
      // The zoom is seen as 5 units once the line has been read (every 2 s; here at once); before that each job counts one.
      await (q as unknown as { refreshPositions(): Promise<void> }).refreshPositions();
      const last = await q.submit({ userId: snowflake(), data: {} });
      const eta = (s: typeof zoom) => (s.ok ? shown.get(s.jobId) : undefined);
      expect([eta(zoom), eta(next), eta(last)]).toEqual([15, 45, (5 + 1 + 0.5) * 30]);
    } finally {
      await inspect.obliterate({ force: true });
      await q.slots.sweep();
      await q.shutdown();
    }
  });
});
