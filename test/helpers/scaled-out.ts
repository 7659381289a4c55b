// One bot in this process, `npm run worker` processes and a Redis of the test's own, on the fake Discord: the
// scaled-out deployment the Redis queue tests drive. Workers are real processes (their logs, their deaths); the
// fake one (test/helpers/fake-worker.ts) holds its dreams at a gate the test opens.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import type { DreamBot } from '../../src/bot/app.ts';
import { startBot } from '../../src/bin/compose.ts';
import { botConfig } from '../../src/config.ts';
import type { RedisQueue } from '../../src/queue/index.ts';
import { FakeDiscord, snowflake, type RecordedRequest } from './fake-discord.ts';
import { TestRedis } from './redis-server.ts';

/** `npm run worker`, with the real engine. */
const WORKER = path.resolve('src/bin/worker.ts');
/** The same worker with the fake runner, its dreams held until the test lets them go (see the helper). */
const FAKE_WORKER = path.resolve('test/helpers/fake-worker.ts');

export interface WorkerProcess {
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

export const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });
export const edits = (i: { token: string }) => (r: RecordedRequest) => r.method === 'PATCH' && r.path.includes(i.token);
export const resultOf = (i: { token: string }) => (r: RecordedRequest) => edits(i)(r) && r.files.some((f) => f.filename.startsWith('dream-'));
export const saying = (i: { token: string }, words: RegExp) => (r: RecordedRequest) => edits(i)(r) && words.test(JSON.stringify(r.json));

/** The deployment; `start()` in beforeAll, `stop()` in afterAll. */
export class ScaledOut {
  redis!: TestRedis;
  fake!: FakeDiscord;
  bot!: DreamBot;
  /** Every worker process started and not yet let go (see `forget`). */
  readonly workers: WorkerProcess[] = [];
  private env: Record<string, string> = {};

  async start(): Promise<void> {
    this.redis = await TestRedis.start();
    this.fake = await FakeDiscord.start();
    this.env = {
      DATABASE_URL: 'sqlite::memory:',
      DISCORD_TOKEN: this.fake.token,
      DISCORD_CLIENT_ID: this.fake.applicationId,
      DISCORD_API: this.fake.apiBase,
      ATTACHMENT_URL_PREFIXES: this.fake.cdnBase,
      QUEUE_DRIVER: 'redis',
      REDIS_URL: this.redis.url,
      DREAM_MAX_SIDE: '256',
      QUEUE_LOCK_MS: '3000',
      LOG_LEVEL: 'info',
    };
    await this.startBot();
  }

  /** The bot (again, after a `bot.stop()`), with its health server for /metrics. */
  async startBot(): Promise<void> {
    this.bot = await startBot(botConfig({ ...this.env, MAX_QUEUE: '20', HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1' }), pino({ level: 'silent' }));
  }

  async stop(): Promise<void> {
    for (const w of this.workers.splice(0)) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await this.bot?.stop();
    await this.fake?.close();
    await this.redis?.down();
  }

  /** `npm run worker` in a process of its own: the real engine, or the fake runner behind a gate. */
  startWorker(kind: 'fake' | 'real' = 'fake'): WorkerProcess {
    const extra = kind === 'fake' ? { FAKE_WORKER_GATE: '1', QUEUE_LOCK_MS: '2000' } : {};
    const child = spawn(process.execPath, ['--import', 'tsx/esm', kind === 'fake' ? FAKE_WORKER : WORKER], {
      env: { ...process.env, ...this.env, ...extra },
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
        await this.until(() => w.closedGates > before, 'the gate closed');
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
    this.workers.push(w);
    return w;
  }

  /** Waits until `cond` holds (the ceiling only guards against a hang), showing the workers' logs if it never does. */
  async until(cond: () => boolean, what: string, ceilingMs = 60_000): Promise<void> {
    const end = Date.now() + ceilingMs;
    while (!cond()) {
      const dead = this.workers.find((w) => w.child.exitCode !== null && w.child.signalCode === null);
      if (Date.now() > end || dead) throw new Error(`${dead ? 'a worker exited' : 'timed out'} waiting for ${what}; worker logs:\n${this.workers.map((w) => w.log.slice(-2000)).join('\n---\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  ready(...ws: WorkerProcess[]): Promise<void> {
    return this.until(() => ws.every((w) => /worker ready/.test(w.log)), 'worker ready');
  }

  /** The bot's Redis reservations (who holds which slots). */
  slots() {
    return (this.bot.queue as unknown as RedisQueue<unknown, unknown>).slots;
  }

  /** The bot's `deepdream_jobs_total{outcome}` now. */
  async metric(outcome: string): Promise<number> {
    const text = await (await fetch(`${this.bot.healthAddress()}/metrics`)).text();
    return Number(new RegExp(`^deepdream_jobs_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  }

  /** `/dream image:<bytes> intensity:<intensity>` from `user`. */
  ask(bytes: Buffer, intensity: string, user = member('m')) {
    return this.fake.dispatchInteraction(this.fake.chatInput({ name: 'dream', user, options: { intensity }, attachments: { image: { filename: 'p.png', bytes } } }));
  }
}
