import { Queue } from 'bullmq';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError } from '../src/errors.ts';
import { RedisQueue, startRedisWorker, type QueueHooks } from '../src/queue/index.ts';
import { QUEUE_NAME } from '../src/queue/redis-queue.ts';
import { Gate } from './helpers/fake-runner.ts';
import { TestRedis } from './helpers/redis-server.ts';

const quiet = pino({ level: 'silent' });
type Data = { name: string };

/** Waits for a condition, checked again whenever a job starts or ends (`changed`); the ceiling only guards a hang. */
const checks = new Set<() => void>();
const changed = () => checks.forEach((c) => c());
function until(check: () => boolean, what: string): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (checks.delete(test), reject(new Error(`timed out waiting for ${what}`))), 20_000);
    const test = () => {
      if (!check()) return;
      checks.delete(test);
      clearTimeout(timer);
      resolve();
    };
    checks.add(test);
  });
}

describe('fair turns on the Redis queue (BullMQ priorities)', () => {
  let redis: TestRedis;
  let inspect: Queue;

  beforeAll(async () => {
    redis = await TestRedis.start();
    inspect = new Queue(QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port } });
  });

  beforeEach(async () => {
    await inspect.obliterate({ force: true });
  });

  afterAll(async () => {
    await inspect?.close();
    await redis?.down();
  });

  /** A bot-side queue that records what each job's member was told, and ends. */
  async function botQueue(limits = { concurrency: 1, maxQueue: 10, maxPerUser: 5 }) {
    const told = new Map<string, number>();
    const ended: string[] = [];
    const hooks: QueueHooks<Data, unknown> = {
      onPosition: (job, position) => {
        told.set(job.data.name, position);
        changed();
      },
      onEnd: (job) => {
        ended.push(job.data.name);
        changed();
      },
    };
    const q = await RedisQueue.start(redis.url, limits, hooks, quiet);
    const ids = new Map<string, { jobId: string; userId: string }>();
    const submit = async (userId: string, name: string) => {
      const s = await q.submit({ userId, data: { name } });
      if (!s.ok) throw new Error(`${name} refused: ${s.refusal.kind}`);
      ids.set(name, { jobId: s.jobId, userId });
      return s;
    };
    /** Reads the line now (the queue does it every 2 s) and tells members their places. */
    const refresh = () => (q as unknown as { refreshPositions(): Promise<void> }).refreshPositions();
    const toldOrder = (names: string[]) => [...names].sort((a, b) => told.get(a)! - told.get(b)!);
    return { q, told, ended, ids, submit, refresh, toldOrder };
  }

  /** An in-process worker whose jobs wait at a gate; `started` lists job names in the order they began. */
  async function gatedWorker() {
    const gate = new Gate();
    const started: string[] = [];
    const worker = await startRedisWorker<Data, string>({
      url: redis.url,
      concurrency: 1,
      lockMs: 30_000,
      log: quiet,
      processor: async (job, signal) => {
        started.push(job.data.name);
        changed();
        await gate.wait(signal).catch((err: unknown) => {
          if (!(err instanceof CancelledError)) throw err;
        });
        return job.data.name;
      },
    });
    return { gate, started, worker };
  }

  it('three jobs from A then one from B: B\'s runs second, and the places told match the order they run in', async () => {
    const bot = await botQueue();
    const { gate, started, worker } = await gatedWorker();
    try {
      await bot.submit('A', 'a1');
      await until(() => started.length === 1, 'a1 to start');
      const a2 = await bot.submit('A', 'a2');
      const a3 = await bot.submit('A', 'a3');
      const b1 = await bot.submit('B', 'b1');
      // Told at once: B's first job goes ahead of A's second and third.
      expect([a2.ok && a2.position, a3.ok && a3.position, b1.ok && b1.position]).toEqual([1, 2, 1]);
      // The jobs it went ahead of hear their new places (the submit reads the line again at once).
      await until(() => bot.told.get('a2') === 2 && bot.told.get('a3') === 3, 'a2 and a3 to hear they moved back');
      expect(['b1', 'a2', 'a3'].map((n) => bot.told.get(n))).toEqual([1, 2, 3]);
      const promised = bot.toldOrder(['a2', 'a3', 'b1']);
      gate.release();
      await until(() => started.length === 2 && bot.ended.includes('a1'), 'a1 to end and b1 to start');
      // a1's end (heard by the bot, which lets go of its reservation) moved A's waiting jobs up a turn.
      const waiting = await inspect.getPrioritized();
      expect(waiting.map((j) => [(j.data as { data: Data }).data.name, j.priority])).toEqual([
        ['a2', 1],
        ['a3', 2],
      ]);
      for (let n = 3; n <= 4; n++) {
        gate.release();
        await until(() => started.length === n, `job ${n} to start`);
      }
      gate.release();
      await until(() => bot.ended.length === 4, 'every job to end');
      expect(started).toEqual(['a1', 'b1', 'a2', 'a3']);
      expect(['a1', ...promised]).toEqual(started);
    } finally {
      gate.open(); // a failed assertion must not leave a job held at the gate
      await worker.close();
      await bot.q.shutdown();
    }
  });

  it('a member\'s later jobs move up a turn when one ends or is cancelled, once however many bots hear it', async () => {
    const [one, two] = [await botQueue(), await botQueue()];
    const priorities = async () => {
      const jobs = await inspect.getPrioritized();
      return Object.fromEntries(jobs.map((j) => [(j.data as { data: Data }).data.name, j.priority]));
    };
    try {
      for (const name of ['a1', 'a2', 'a3']) await one.submit('A', name);
      await two.submit('B', 'b1');
      expect(await priorities()).toEqual({ a1: 1, a2: 2, a3: 3, b1: 1 });
      // The line is in turn order: a1, b1 (turn 1), a2, a3.
      expect((await inspect.getPrioritized()).map((j) => (j.data as { data: Data }).data.name)).toEqual(['a1', 'b1', 'a2', 'a3']);
      // a1 is cancelled through the other bot: A's jobs move up a turn and go behind b1 in turn 1.
      const a1 = one.ids.get('a1')!;
      expect(await two.q.cancel(a1.jobId, a1.userId)).toBe('cancelled');
      expect(await priorities()).toEqual({ a2: 1, a3: 2, b1: 1 });
      expect((await inspect.getPrioritized()).map((j) => (j.data as { data: Data }).data.name)).toEqual(['b1', 'a2', 'a3']);
      // Both bots letting go of the same job again changes nothing.
      await one.q.slots.release(a1.jobId);
      await two.q.slots.release(a1.jobId);
      expect(await priorities()).toEqual({ a2: 1, a3: 2, b1: 1 });
      await one.refresh();
      expect(['b1', 'a2', 'a3'].map((n) => one.told.get(n) ?? two.told.get(n))).toEqual([1, 2, 3]);
    } finally {
      await Promise.all([one.q.shutdown(), two.q.shutdown()]);
    }
  });

  it('two bots adding one member\'s jobs at once give them distinct turns (the turn is taken in the reservation script)', async () => {
    const [one, two] = [await botQueue(), await botQueue()];
    try {
      const names = ['m1', 'm2', 'm3', 'm4'];
      await Promise.all(names.map((name, i) => (i % 2 ? two : one).submit('M', name)));
      const turns = (await inspect.getPrioritized()).map((j) => j.priority).sort();
      expect(turns).toEqual([1, 2, 3, 4]);
      // The caps still hold across both: M has 4 of 5; a sixth job from two bots at once gets one place.
      const more = await Promise.all([one.q.submit({ userId: 'M', data: { name: 'm5' } }), two.q.submit({ userId: 'M', data: { name: 'm6' } })]);
      expect(more.filter((s) => s.ok)).toHaveLength(1);
      expect(more.filter((s) => !s.ok && s.refusal.kind === 'user_limit')).toHaveLength(1);
    } finally {
      await Promise.all([one.q.shutdown(), two.q.shutdown()]);
    }
  });
});
