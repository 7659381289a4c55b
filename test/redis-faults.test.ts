import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { english } from '../src/i18n/index.ts';
import { startBot, startWorker } from '../src/bin/compose.ts';
import { botConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import type { RedisQueue } from '../src/queue/index.ts';
import { FakeDiscord, snowflake, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { TestRedis } from './helpers/redis-server.ts';
import { text } from './helpers/requests.ts';

const UNAVAILABLE_TEXT = english.refusals.unavailable;
/**
 * How long the bot waits for a frozen Redis (REDIS_COMMAND_TIMEOUT_MS, 2 s by default: members hear within 3 s).
 * Shorter here; the promise tested is the same: one command timeout, plus at most a second of work.
 */
const COMMAND_TIMEOUT_MS = 1000;
const WORK_MS = 1000;

const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });
const isResult = (i: { token: string }) => (r: RecordedRequest) => r.method === 'PATCH' && r.path.includes(i.token) && r.files.some((f) => f.filename.startsWith('dream-'));
const isUnavailable = (i: { token: string }) => (r: RecordedRequest) => r.method === 'POST' && r.path.endsWith(i.token) && text(r).includes(UNAVAILABLE_TEXT);

function fakeEnv(fake: FakeDiscord, redis: TestRedis): Record<string, string> {
  return {
    DATABASE_URL: 'sqlite::memory:',
    DISCORD_TOKEN: fake.token,
    DISCORD_CLIENT_ID: fake.applicationId,
    DISCORD_API: fake.apiBase,
    ATTACHMENT_URL_PREFIXES: fake.cdnBase,
    QUEUE_DRIVER: 'redis',
    REDIS_URL: redis.url,
    DREAM_MAX_SIDE: '128',
    MAX_JOBS_PER_USER: '1',
    REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
    LOG_LEVEL: 'info',
  };
}

describe('Redis down or frozen: members hear at once, nothing runs later, the bot carries on', () => {
  let redis: TestRedis;
  let fake: FakeDiscord;
  let bot: DreamBot;
  let worker: { close(): Promise<void> };
  let photo: Buffer;
  let logs = '';

  beforeAll(async () => {
    redis = await TestRedis.start();
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(96, 72, 'png');
    const config = botConfig({ ...fakeEnv(fake, redis), HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1' });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs += chunk.toString();
        done();
      },
    });
    // Debug, to see the reconnect attempts (the outage lines checked below are warnings).
    const log = createLogger('debug', [config.token], sink);
    bot = await startBot(config, log);
    worker = await startWorker(config, log.child({ worker: 'in-process' }), { runner: new FakeRunner() });
  });

  afterAll(async () => {
    redis?.freeze(false);
    await worker?.close();
    await bot?.stop();
    await fake?.close();
    await redis?.down();
  });

  const ask = (user = member('m')) =>
    fake.dispatchInteraction(fake.chatInput({ name: 'dream', user, options: { intensity: 'low' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
  const metric = async (outcome: string) => Number(new RegExp(`^deepdream_jobs_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(await (await fetch(`${bot.healthAddress()}/metrics`)).text())?.[1]);
  const health = async () => {
    const res = await fetch(`${bot.healthAddress()}/healthz`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  /** Failed connection attempts the bot's own command connection has logged (at debug) so far. */
  const botConnectionErrors = () => logLines().filter((l) => l.msg === 'Redis connection error' && !l.worker && l.source === 'connection bot').length;
  const logLines = () => logs.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string; outageSeconds?: number; worker?: string; source?: string });

  it('Redis stopped: /dream and Reroll get the sentence at once; after Redis returns the next /dream is dreamed', async () => {
    const first = ask();
    await fake.waitForRequest(isResult(first), { fromIndex: 0, timeoutMs: 20_000 });
    // Its end is recorded in Redis (and heard by the bot) before Redis goes: the restarted Redis has no data.
    await expect.poll(() => metric('done'), { timeout: 5000, interval: 50 }).toBe(1);

    const errorsBefore = botConnectionErrors();
    await redis.down();
    await expect.poll(() => bot.queue.connected(), { timeout: 5000, interval: 50 }).toBe(false);
    // Well into the outage, with reconnect attempts going on (and failing).
    await expect.poll(() => botConnectionErrors() - errorsBefore, { timeout: 10_000, interval: 20 }).toBeGreaterThanOrEqual(3);
    const sentAt = Date.now();
    const refused = ask();
    const answer = await fake.waitForRequest(isUnavailable(refused), { fromIndex: 0, timeoutMs: 10_000 });
    // At once: no command waited for its timeout (Redis is known to be away), and Redis is still down.
    expect(answer.at - sentAt).toBeLessThan(COMMAND_TIMEOUT_MS + WORK_MS);
    expect(answer.json).toMatchObject({ content: UNAVAILABLE_TEXT, flags: 64 }); // private
    // A button press (Reroll on the first result) goes the same way.
    const rerollAt = Date.now();
    const reroll = fake.dispatchInteraction(fake.button({ customId: 'dream:reroll', message: fake.originalMessage(first.id)!, user: fake.users.bob }));
    const rerollAnswer = await fake.waitForRequest(isUnavailable(reroll), { fromIndex: 0, timeoutMs: 10_000 });
    expect(rerollAnswer.at - rerollAt).toBeLessThan(COMMAND_TIMEOUT_MS + WORK_MS);
    expect(await metric('unavailable')).toBe(2);
    expect(await metric('failed')).toBe(0);
    // Alive, and honest about it: 503 while Redis is away.
    const h = await health();
    expect(h.status).toBe(503);
    expect(h.body).toMatchObject({ status: 'unavailable', redis: 'unreachable', problems: ['Redis unreachable'] });

    await redis.up();
    await expect.poll(async () => (await health()).status, { timeout: 10_000, interval: 100 }).toBe(200);
    const after = ask();
    await fake.waitForRequest(isResult(after), { fromIndex: 0, timeoutMs: 20_000 });
    // Nothing asked during the outage ran afterwards.
    expect(fake.requests.some((r) => [refused, reroll].some((i) => r.path.includes(i.token) && /In the queue|Dreaming/.test(text(r))))).toBe(false);
  });

  it('Redis frozen (connected, not answering): the sentence after one command timeout; the late reservation is let go once it answers', async () => {
    const alice = member('alice');
    redis.freeze(true);
    const sentAt = Date.now();
    const frozen = ask(alice);
    const answer = await fake.waitForRequest(isUnavailable(frozen), { fromIndex: 0, timeoutMs: 10_000 });
    // The bot waited for Redis (its reserve command timed out), once: with the default timeout, within 3 s.
    expect(answer.at - sentAt).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 5);
    expect(answer.at - sentAt).toBeLessThan(COMMAND_TIMEOUT_MS + WORK_MS);
    redis.freeze(false);
    // The reserve ran late, when Redis woke up: it is released, so the member (MAX_JOBS_PER_USER=1) may dream at once.
    const slots = (bot.queue as RedisQueue<unknown, unknown>).slots;
    await expect.poll(async () => (await slots.all()).owners, { timeout: 10_000, interval: 200 }).toEqual({});
    const again = ask(alice);
    await fake.waitForRequest(isResult(again), { fromIndex: 0, timeoutMs: 20_000 });
    expect(fake.requests.some((r) => r.path.includes(frozen.token) && /In the queue|Dreaming/.test(text(r)))).toBe(false);
    expect(await metric('unavailable')).toBe(3);
  });

  it('logs of the outages above: JSON only, one line when Redis goes, one when it is back', () => {
    const lines = logLines();
    const lost = lines.filter((l) => /^Redis connection lost/.test(l.msg));
    const back = lines.filter((l) => l.msg === 'Redis connection back');
    // One each for the bot and the (in-process) worker.
    expect(lost.map((l) => l.worker ?? 'bot').sort()).toEqual(['bot', 'in-process']);
    expect(back.map((l) => l.worker ?? 'bot').sort()).toEqual(['bot', 'in-process']);
    expect(back.every((l) => l.outageSeconds! > 0)).toBe(true);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});

describe('a Redis outage in the logs of the bot and worker processes', () => {
  let redis: TestRedis;
  let fake: FakeDiscord;
  const procs: { name: string; child: ChildProcess; out: string }[] = [];

  function start(name: string, entry: string, env: Record<string, string>) {
    const child = spawn(process.execPath, ['--import', 'tsx/esm', entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const p = { name, child, out: '' };
    child.stdout!.on('data', (d: Buffer) => (p.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (p.out += d.toString()));
    procs.push(p);
    return p;
  }
  const until = async (cond: () => boolean, ms: number, what: string) => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${procs.map((p) => `${p.name}: ${p.out}`).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    fake = await FakeDiscord.start();
  });

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await fake?.close();
    await redis?.down();
  });

  it('an outage of many reconnect attempts: only JSON lines, a handful of them, with the outage length', async () => {
    // Debug, to see every failed reconnect attempt; the handful counted below are the lines at info and above.
    const env = { ...fakeEnv(fake, redis), LOG_LEVEL: 'debug' };
    const bot = start('bot', path.resolve('src/bin/bot.ts'), env);
    const worker = start('worker', path.resolve('test/helpers/fake-worker.ts'), env);
    await until(() => /connected to Discord/.test(bot.out) && /worker ready/.test(worker.out), 30_000, 'start-up');
    const before = procs.map((p) => p.out.length);
    const linesOf = (p: (typeof procs)[number], k: number) => p.out.slice(before[k]).split('\n').filter(Boolean);
    const failedAttempts = (p: (typeof procs)[number], k: number) => linesOf(p, k).filter((l) => /"msg":"Redis connection error"/.test(l)).length;

    await redis.down();
    // Each process keeps trying to reconnect (every connection, with a growing delay): wait for 20 failed attempts
    // each, far more than the handful of lines allowed below.
    await until(() => procs.every((p, k) => failedAttempts(p, k) >= 20), 30_000, 'reconnect attempts');
    const upAt = Date.now();
    await redis.up();
    await until(() => procs.every((p) => /Redis connection back/.test(p.out)), 15_000, 'reconnection');
    // A moment to catch any line the reconnection brings after "back" (only a window to see what should not come).
    await new Promise((r) => setTimeout(r, 500));

    for (const [k, p] of procs.entries()) {
      expect(p.child.exitCode).toBeNull();
      const during = linesOf(p, k);
      // Every line is JSON (no "[ioredis] Unhandled error event" stack traces)...
      for (const line of during) expect(() => JSON.parse(line), `${p.name}: ${line}`).not.toThrow();
      const entries = during.map((l) => JSON.parse(l) as { level: string; msg: string; time: number; outageSeconds?: number });
      const shown = entries.filter((l) => l.level !== 'debug' && l.level !== 'trace');
      const msgs = shown.map((l) => l.msg);
      // ...and at the usual level there are a handful: lost, back, and little else.
      expect(msgs.length, `${p.name}: ${msgs.join(' | ')}`).toBeLessThanOrEqual(4);
      const lost = shown.filter((l) => /^Redis connection lost/.test(l.msg));
      expect(lost).toHaveLength(1);
      const back = shown.filter((l) => l.msg === 'Redis connection back');
      expect(back).toHaveLength(1);
      // The outage length: from the lost line to the back line, at least until Redis was started again.
      expect(back[0].outageSeconds).toBeGreaterThanOrEqual((upAt - lost[0].time) / 1000 - 0.06);
      expect(back[0].outageSeconds).toBeLessThanOrEqual((back[0].time - lost[0].time) / 1000 + 0.06);
    }
  });
});
