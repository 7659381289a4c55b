import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makePhotoLike } from './helpers/images.ts';
import { edits, member, resultOf, saying, ScaledOut, type WorkerProcess } from './helpers/scaled-out.ts';

// The Redis queue across processes: one bot, fake `npm run worker`s that hold each dream until the test lets it go,
// Redis. (A real dream through `npm run worker` is test/redis-worker.test.ts, so the two run side by side.)

describe('scaled out: one bot, worker processes, Redis (BullMQ)', () => {
  const d = new ScaledOut();
  const { workers } = d;
  const startWorker = () => d.startWorker();
  const until = (cond: () => boolean, what: string) => d.until(cond, what);
  const ready = (...ws: WorkerProcess[]) => d.ready(...ws);
  const ask = (bytes: Buffer, intensity: string, user = member('m')) => d.ask(bytes, intensity, user);

  beforeAll(() => d.start());

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

  afterAll(() => d.stop());

  /** A worker's counters now, to count what happens from here (a spare worker has a past). */
  const mark = (w: WorkerProcess) => {
    const [held, started] = [w.held, w.started.length];
    return { held: () => w.held - held, started: () => w.started.slice(started) };
  };

  it('one bot and two workers complete 10 dreams from 10 members', async () => {
    const [a, b] = spareWorkers(2);
    await ready(a, b);
    const [ma, mb] = [mark(a), mark(b)];
    const doneBefore = await d.metric('done');
    const photo = await makePhotoLike(120, 90, 'png');
    const asks = Array.from({ length: 10 }, () => ask(photo, 'low'));
    // Each worker holds its first dream: the other 8 wait in line, and their members are told their place.
    await until(() => ma.held() === 1 && mb.held() === 1, 'each worker running a dream');
    for (const i of asks) await d.fake.waitForRequest(saying(i, /In the queue/), { fromIndex: 0, timeoutMs: 20_000 });
    expect(asks.some((i) => d.fake.requests.some(saying(i, /position [2-9]/)))).toBe(true);
    a.open();
    b.open();
    for (const i of asks) await d.fake.waitForRequest(resultOf(i), { fromIndex: 0, timeoutMs: 60_000 });
    // Both workers took jobs, and every job ran exactly once.
    expect(ma.started().length).toBeGreaterThan(0);
    expect(mb.started().length).toBeGreaterThan(0);
    expect(ma.started().length + mb.started().length).toBe(10);
    expect(new Set([...ma.started(), ...mb.started()]).size).toBe(10);
    // The bot is healthy with its queue in Redis (and no local dream workers).
    const health = await fetch(`${d.bot.healthAddress()}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', driver: 'redis', backend: 'redis workers' });
    // The workers' outcomes come back through Redis: the bot's /metrics counts all 10 as done.
    await expect.poll(() => d.metric('done'), { timeout: 10_000 }).toBe(doneBefore + 10);
    // Every ending released its member's slot.
    await expect.poll(async () => (await d.slots().all()).owners, { timeout: 5000 }).toEqual({});
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
      asks.map((i) => d.fake.waitForRequest((r) => resultOf(i)(r) || saying(i, /stopped unexpectedly twice/)(r), { fromIndex: 0, timeoutMs: 60_000 })),
    );
    const texts = outcomes.map((r) => (r.files.length ? 'image' : 'failed clearly'));
    expect(texts.sort()).toEqual(['failed clearly', 'image']);
    // It ran twice in all (on A, then on B), never a third time.
    expect(c.started).not.toContain(jobOnA);
    // The job that failed (its worker died twice) released its member's slot too.
    await expect.poll(async () => (await d.slots().all()).owners, { timeout: 5000 }).toEqual({});
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
    for (const i of asks) await d.fake.waitForRequest(saying(i, /In the queue/), { fromIndex: 0, timeoutMs: 20_000 });
    await until(() => m.held() === 1, 'a dream running');
    await d.bot.stop();
    await d.startBot();
    w.open();
    for (const i of asks) await d.fake.waitForRequest(resultOf(i), { fromIndex: 0, timeoutMs: 60_000 });
    expect(m.started()).toHaveLength(3);
    // The restarted bot heard their ends: their slots are free.
    await expect.poll(async () => (await d.slots().all()).owners, { timeout: 5000 }).toEqual({});
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
    const dreaming = await d.fake.waitForRequest((r) => both.some((i) => saying(i, /Dreaming/)(r)), { fromIndex: 0, timeoutMs: 30_000 });
    const running = both.find((i) => edits(i)(dreaming))!;
    const waiting = both.find((i) => i !== running)!;
    await d.fake.waitForRequest(saying(waiting, /position 1/), { fromIndex: 0, timeoutMs: 30_000 });
    await until(() => m.held() === 1, 'the running dream held');
    for (const i of [waiting, running]) {
      const status = d.fake.requests.filter(edits(i)).map((r) => JSON.stringify(r.json)).find((t) => /dream:cancel:/.test(t))!;
      const jobId = /dream:cancel:(\w+)/.exec(status)![1];
      const message = d.fake.originalMessage(i.id)!;
      const press = d.fake.dispatchInteraction(d.fake.button({ customId: `dream:cancel:${jobId}`, message, user: alice }));
      await d.fake.waitForRequest((r) => r.path.includes(`/interactions/${press.id}/`), { fromIndex: 0 });
      expect(d.fake.interactionCallbacks(press.id)[0].json).toMatchObject({ type: 6 });
      await d.fake.waitForRequest(saying(i, /Cancelled/), { fromIndex: 0, timeoutMs: 20_000 });
    }
    // The waiting one never ran; both cancelled jobs gave alice's slots back.
    expect(m.started()).toHaveLength(1);
    await expect.poll(async () => (await d.slots().all()).owners, { timeout: 5000 }).toEqual({});
    // A worker that has run (and been cancelled) is told to stop, and exits cleanly.
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });
});
