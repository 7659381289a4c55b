import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startBot } from '../src/bin/compose.ts';
import { botConfig } from '../src/config.ts';
import type { RedisQueue } from '../src/queue/index.ts';
import { FakeDiscord, snowflake, type RecordedRequest } from './helpers/fake-discord.ts';
import { makePhotoLike } from './helpers/images.ts';
import { TestRedis } from './helpers/redis-server.ts';

/** `npm run worker`, with the real engine. */
const WORKER = path.resolve('src/bin/worker.ts');
/** The same worker with the fake runner, its dreams held until the test lets them go (see the helper). */
const FAKE_WORKER = path.resolve('test/helpers/fake-worker.ts');

interface WorkerProcess {
  child: ChildProcess;
  log: string;
  /** Job ids, in the order this worker started them. */
  started: string[];
  /** How many dreams stopped at this (fake) worker's gate so far. */
  held: number;
  /** Lets one held dream (or the next to arrive) go on. */
  release(): void;
  /** Lets every dream go on from now on. */
  open(): void;
  /** Holds every dream again; resolves when the worker has heard it. */
  hold(): Promise<void>;
  closedGates: number;
  exited: Promise<number | null>;
}

const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });
const edits = (i: { token: string }) => (r: RecordedRequest) => r.method === 'PATCH' && r.path.includes(i.token);
const resultOf = (i: { token: string }) => (r: RecordedRequest) => edits(i)(r) && r.files.some((f) => f.filename.startsWith('dream-'));
const saying = (i: { token: string }, words: RegExp) => (r: RecordedRequest) => edits(i)(r) && words.test(JSON.stringify(r.json));

describe('scaled out: one bot, worker processes, Redis (BullMQ)', () => {
  let redis: TestRedis;
  let fake: FakeDiscord;
  let bot: DreamBot;
  const workers: WorkerProcess[] = [];
  let env: Record<string, string>;

  function startWorker(kind: 'fake' | 'real' = 'fake'): WorkerProcess {
    const extra = kind === 'fake' ? { FAKE_WORKER_GATE: '1', QUEUE_LOCK_MS: '2000' } : {};
    const child = spawn(process.execPath, ['--import', 'tsx/esm', kind === 'fake' ? FAKE_WORKER : WORKER], {
      env: { ...process.env, ...env, ...extra },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const w: WorkerProcess = {
      child,
      log: '',
      started: [],
      held: 0,
      closedGates: 0,
      release: () => child.stdin!.write('release\n'),
      open: () => child.stdin!.write('open\n'),
      hold: async () => {
        const before = w.closedGates;
        child.stdin!.write('hold\n');
        await until(() => w.closedGates > before, 'the gate closed');
      },
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    child.stdin!.on('error', () => undefined); // a killed worker's stdin
    let partial = '';
    const onData = (d: Buffer) => {
      w.log += d.toString();
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const started = /"job":"(d[0-9a-z]+)"[^\n]*"msg":"dream started"/.exec(line);
        if (started) w.started.push(started[1]);
        if (/"msg":"dream held"/.test(line)) w.held++;
        if (/"msg":"gate closed"/.test(line)) w.closedGates++;
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    workers.push(w);
    return w;
  }

  /** Waits until `cond` holds (the ceiling only guards against a hang), showing the workers' logs if it never does. */
  async function until(cond: () => boolean, what: string, ceilingMs = 60_000): Promise<void> {
    const end = Date.now() + ceilingMs;
    while (!cond()) {
      const dead = workers.find((w) => w.child.exitCode !== null && w.child.signalCode === null);
      if (Date.now() > end || dead) throw new Error(`${dead ? 'a worker exited' : 'timed out'} waiting for ${what}; worker logs:\n${workers.map((w) => w.log.slice(-2000)).join('\n---\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const ready = (...ws: WorkerProcess[]) => until(() => ws.every((w) => /worker ready/.test(w.log)), 'worker ready');

  const slots = () => (bot.queue as unknown as RedisQueue<unknown, unknown>).slots;
  const metric = async (outcome: string) => Number(new RegExp(`^deepdream_jobs_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(await (await fetch(`${bot.healthAddress()}/metrics`)).text())?.[1] ?? 0);

  const ask = (bytes: Buffer, intensity: string, user = member('m')) =>
    fake.dispatchInteraction(fake.chatInput({ name: 'dream', user, options: { intensity }, attachments: { image: { filename: 'p.png', bytes } } }));

  beforeAll(async () => {
    redis = await TestRedis.start();
    fake = await FakeDiscord.start();
    env = {
      DATABASE_URL: 'sqlite::memory:',
      DISCORD_TOKEN: fake.token,
      DISCORD_CLIENT_ID: fake.applicationId,
      DISCORD_API: fake.apiBase,
      ATTACHMENT_URL_PREFIXES: fake.cdnBase,
      QUEUE_DRIVER: 'redis',
      REDIS_URL: redis.url,
      DREAM_MAX_SIDE: '256',
      QUEUE_LOCK_MS: '3000',
      LOG_LEVEL: 'info',
    };
    bot = await startBot(botConfig({ ...env, MAX_QUEUE: '20', HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1' }), pino({ level: 'silent' }));
  });

  /**
   * Fake workers that outlive their test (each costs a second or two of CPU to start), their gates closed: the next
   * test that wants one or two workers takes them, or fresh ones if they are gone. A test that needs one worker must
   * leave at most one spare behind (`keep`), since a second would take its jobs.
   */
  let spares: WorkerProcess[] = [];
  const alive = (w: WorkerProcess) => w.child.exitCode === null && w.child.signalCode === null;
  const spareWorkers = (n: number) => {
    spares = spares.filter(alive);
    while (spares.length < n) spares.push(startWorker());
    return spares.slice(0, n);
  };
  const oneWorker = () => spareWorkers(1)[0];
  /** After a test: these workers (their gates closed) are the spares, every other one stops. */
  const keep = (...ws: WorkerProcess[]) => {
    spares = ws;
  };

  // A failed test must not leave its workers taking the next test's jobs; a passed one leaves only the spares.
  afterEach((ctx) => {
    const failed = ctx.task.result?.state === 'fail';
    if (failed) spares = [];
    for (const w of workers.splice(0)) {
      if (spares.includes(w)) workers.push(w);
      else if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }
  });

  afterAll(async () => {
    for (const w of workers.splice(0)) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await bot?.stop();
    await fake?.close();
    await redis?.down();
  });

  it('a real dream through `npm run worker`: the engine runs in the worker process, the member gets the picture', async () => {
    const w = startWorker('real');
    await ready(w);
    expect(w.log).not.toMatch(/fake runner/);
    const doneBefore = await metric('done');
    const i = ask(await makePhotoLike(120, 90, 'png'), 'low');
    await fake.waitForRequest(resultOf(i), { fromIndex: 0, timeoutMs: 120_000 });
    expect(w.started).toHaveLength(1);
    await expect.poll(() => metric('done'), { timeout: 10_000 }).toBe(doneBefore + 1);
    await expect.poll(async () => (await slots().all()).owners, { timeout: 5000 }).toEqual({});
    // SIGTERM: it finishes what runs (nothing now) and exits cleanly.
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  /** A worker's counters now, to count what happens from here (a spare worker has a past). */
  const mark = (w: WorkerProcess) => {
    const [held, started] = [w.held, w.started.length];
    return { held: () => w.held - held, started: () => w.started.slice(started) };
  };

  it('one bot and two workers complete 10 dreams from 10 members', async () => {
    const [a, b] = spareWorkers(2);
    await ready(a, b);
    const [ma, mb] = [mark(a), mark(b)];
    const doneBefore = await metric('done');
    const photo = await makePhotoLike(120, 90, 'png');
    const asks = Array.from({ length: 10 }, () => ask(photo, 'low'));
    // Each worker holds its first dream: the other 8 wait in line, and their members are told their place.
    await until(() => ma.held() === 1 && mb.held() === 1, 'each worker running a dream');
    for (const i of asks) await fake.waitForRequest(saying(i, /In the queue/), { fromIndex: 0, timeoutMs: 20_000 });
    expect(asks.some((i) => fake.requests.some(saying(i, /position [2-9]/)))).toBe(true);
    a.open();
    b.open();
    for (const i of asks) await fake.waitForRequest(resultOf(i), { fromIndex: 0, timeoutMs: 60_000 });
    // Both workers took jobs, and every job ran exactly once.
    expect(ma.started().length).toBeGreaterThan(0);
    expect(mb.started().length).toBeGreaterThan(0);
    expect(ma.started().length + mb.started().length).toBe(10);
    expect(new Set([...ma.started(), ...mb.started()]).size).toBe(10);
    // The bot is healthy with its queue in Redis (and no local dream workers).
    const health = await fetch(`${bot.healthAddress()}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', driver: 'redis', backend: 'redis workers' });
    // The workers' outcomes come back through Redis: the bot's /metrics counts all 10 as done.
    await expect.poll(() => metric('done'), { timeout: 10_000 }).toBe(doneBefore + 10);
    // Every ending released its member's slot.
    await expect.poll(async () => (await slots().all()).owners, { timeout: 5000 }).toEqual({});
    // Both hold dreams again, for the next test.
    await Promise.all([a.hold(), b.hold()]);
    keep(a, b);
  });

  it('a worker killed mid-job: its job runs again elsewhere once, then fails clearly; nobody is left waiting', async () => {
    const [a, b] = spareWorkers(2);
    await ready(a, b);
    const [ma, mb] = [mark(a), mark(b)];
    const big = await makePhotoLike(320, 240, 'png');
    const asks = [ask(big, 'high'), ask(big, 'high')];
    // Both are running (held), one on each worker.
    await until(() => ma.held() === 1 && mb.held() === 1, 'a dream running on each worker');
    const [jobOnA] = ma.started();
    const [jobOnB] = mb.started();
    a.child.kill('SIGKILL');
    // B finishes its own job, then picks up A's after its lock expires (it stalled once), and holds it.
    b.release();
    await until(() => mb.held() === 2, "B running A's job");
    expect(mb.started()).toEqual([jobOnB, jobOnA]);
    // Kill B while it runs the retried job; a fresh worker finds it stalled a second time and fails it.
    b.child.kill('SIGKILL');
    const c = startWorker();
    c.open();
    await ready(c);
    const outcomes = await Promise.all(
      asks.map((i) => fake.waitForRequest((r) => resultOf(i)(r) || saying(i, /stopped unexpectedly twice/)(r), { fromIndex: 0, timeoutMs: 60_000 })),
    );
    const texts = outcomes.map((r) => (r.files.length ? 'image' : 'failed clearly'));
    expect(texts.sort()).toEqual(['failed clearly', 'image']);
    // It ran twice in all (on A, then on B), never a third time.
    expect(c.started).not.toContain(jobOnA);
    // The job that failed (its worker died twice) released its member's slot too.
    await expect.poll(async () => (await slots().all()).owners, { timeout: 5000 }).toEqual({});
    // C holds dreams again: the one worker of the tests that follow.
    await c.hold();
    keep(c);
  });

  it('dreams queued before a bot restart still finish', async () => {
    const w = oneWorker();
    await ready(w);
    const m = mark(w);
    const photo = await makePhotoLike(120, 90, 'png');
    const asks = [ask(photo, 'low'), ask(photo, 'low'), ask(photo, 'low')];
    // One is running (held) and two are waiting when the bot stops.
    for (const i of asks) await fake.waitForRequest(saying(i, /In the queue/), { fromIndex: 0, timeoutMs: 20_000 });
    await until(() => m.held() === 1, 'a dream running');
    await bot.stop();
    bot = await startBot(botConfig({ ...env, MAX_QUEUE: '20', HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1' }), pino({ level: 'silent' }));
    w.open();
    for (const i of asks) await fake.waitForRequest(resultOf(i), { fromIndex: 0, timeoutMs: 60_000 });
    expect(m.started()).toHaveLength(3);
    // The restarted bot heard their ends: their slots are free.
    await expect.poll(async () => (await slots().all()).owners, { timeout: 5000 }).toEqual({});
    await w.hold();
  });

  it('Cancel works across processes, for a running and for a waiting dream', async () => {
    const w = oneWorker();
    await ready(w);
    const m = mark(w);
    const big = await makePhotoLike(320, 240, 'png');
    const alice = member('alice');
    const both = [ask(big, 'nightmare', alice), ask(big, 'nightmare', alice)];
    // Whichever was queued first runs (held by the worker until cancelled); the other waits.
    const dreaming = await fake.waitForRequest((r) => both.some((i) => saying(i, /Dreaming/)(r)), { fromIndex: 0, timeoutMs: 30_000 });
    const running = both.find((i) => edits(i)(dreaming))!;
    const waiting = both.find((i) => i !== running)!;
    await fake.waitForRequest(saying(waiting, /position 1/), { fromIndex: 0, timeoutMs: 30_000 });
    await until(() => m.held() === 1, 'the running dream held');
    for (const i of [waiting, running]) {
      const status = fake.requests.filter(edits(i)).map((r) => JSON.stringify(r.json)).find((t) => /dream:cancel:/.test(t))!;
      const jobId = /dream:cancel:(\w+)/.exec(status)![1];
      const message = fake.originalMessage(i.id)!;
      const press = fake.dispatchInteraction(fake.button({ customId: `dream:cancel:${jobId}`, message, user: alice }));
      await fake.waitForRequest((r) => r.path.includes(`/interactions/${press.id}/`), { fromIndex: 0 });
      expect(fake.interactionCallbacks(press.id)[0].json).toMatchObject({ type: 6 });
      await fake.waitForRequest(saying(i, /Cancelled/), { fromIndex: 0, timeoutMs: 20_000 });
    }
    // The waiting one never ran; both cancelled jobs gave alice's slots back.
    expect(m.started()).toHaveLength(1);
    await expect.poll(async () => (await slots().all()).owners, { timeout: 5000 }).toEqual({});
    // A worker that has run (and been cancelled) is told to stop, and exits cleanly.
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });
});
