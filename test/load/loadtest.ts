// Load check (a tool beside the tests, on the same fake Discord).
//
//   npm run loadtest [-- --users 50 --seconds 60]
//     50 members ask at once; prints time-to-acknowledge and event-loop lag (the bot runs in this process).
//
//   npm run loadtest -- --soak 200 [--every 20 --side 256 --intensity low]
//     200 dreams in a row through a bot started as `npm start` would (a child process, memory queue, the real
//     engine); every N jobs prints the bot process's RSS, heap, open file descriptors, threads and active handles
//     and the job times of the last N, so a leak shows up as a trend before members notice it.
//
//   npm run loadtest -- --flood 60000 [--channels 200 --rate 1000 --side 256 --shards 1 --mentions on]
//     A bot started as `npm start` would (a child process, memory queue, the real engine) in a server with 200
//     channels that chat at 1,000 messages a second (none for the bot), with a /dream every second throughout:
//     prints the bot's heap and RSS after warm-up dreams and after the flood, acknowledgement times, event-loop lag
//     and whether every /dream was answered. --shards N: Discord recommends N shards (one process holds them all;
//     the chatter is on one of them); --mentions off: the bot runs with MENTIONS=off.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startBot } from '../../src/bin/compose.ts';
import { botConfig } from '../../src/config.ts';
import { fakeEnv } from '../helpers/bot-config.ts';
import { FakeDiscord, snowflake } from '../helpers/fake-discord.ts';
import { makePhotoLike } from '../helpers/images.ts';
import { freePort } from '../helpers/ports.ts';

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
const member = (k: number) => ({ id: snowflake(), username: `member${k}`, global_name: `member${k}`, discriminator: '0', avatar: null });

async function burst(users: number, seconds: number): Promise<void> {
  const fake = await FakeDiscord.start();
  const config = botConfig({
    ...process.env,
    ...fakeEnv(fake),
    DREAM_MAX_SIDE: process.env.DREAM_MAX_SIDE ?? '256',
    MAX_QUEUE: String(users),
    LOG_LEVEL: 'silent',
  });
  const bot = await startBot(config, pino({ level: 'silent' }));
  const photo = await makePhotoLike(320, 240, 'png');

  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const t0 = Date.now();
  const asks = Array.from({ length: users }, (_, k) =>
    fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member(k), options: { intensity: 'low' }, attachments: { image: { filename: `p${k}.png`, bytes: photo } } })),
  );
  await Promise.all(asks.map((i) => fake.waitForRequest((r) => r.path.includes(`/interactions/${i.id}/`), { fromIndex: 0, timeoutMs: 30_000 })));
  const acks = asks.map((i) => fake.ackLatencyMs(i.id)!);
  const done = () => asks.filter((i) => fake.requests.some((r) => r.method === 'PATCH' && r.path.includes(i.token) && r.files.some((f) => f.filename.startsWith('dream-')))).length;
  while (Date.now() - t0 < seconds * 1000 && done() < users) await new Promise((r) => setTimeout(r, 250));
  lag.disable();
  const result = {
    users,
    backend: String(bot.healthDetails().backend),
    concurrency: config.concurrency,
    ack_p50_ms: percentile(acks, 50),
    ack_p99_ms: percentile(acks, 99),
    ack_max_ms: Math.max(...acks),
    loop_lag_p99_ms: Math.round(lag.percentile(99) / 1e6),
    loop_lag_max_ms: Math.round(lag.max / 1e6),
    dreams_finished: done(),
    seconds_observed: Math.round((Date.now() - t0) / 1000),
  };
  process.stdout.write(
    `${users} interactions at once (${result.backend}, ${result.concurrency} worker${result.concurrency > 1 ? 's' : ''}):\n` +
      `  time to acknowledge: p50 ${result.ack_p50_ms} ms, p99 ${result.ack_p99_ms} ms, max ${result.ack_max_ms} ms\n` +
      `  event-loop lag while dreaming: p99 ${result.loop_lag_p99_ms} ms, max ${result.loop_lag_max_ms} ms\n` +
      `  dreams finished: ${result.dreams_finished}/${users} in ${result.seconds_observed} s\n` +
      `${JSON.stringify(result)}\n`,
  );
  await bot.stop();
  await fake.close();
}


/** Threads of a process, from /proc (Linux); null elsewhere. */
function threadsOf(pid: number): number | null {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  } catch {
    return null;
  }
}

interface Sample {
  jobs: number;
  rssMiB: number;
  heapMiB: number;
  fds: number | null;
  threads: number | null;
  handles: number;
  jobP50s: number;
  jobMaxS: number;
}

async function soak(total: number, every: number, side: string, intensity: string): Promise<void> {
  const fake = await FakeDiscord.start();
  try {
    const bot = await startBotProcess(fake, { DREAM_MAX_SIDE: side });
    try {
      await soakRun(fake, bot.base, bot.pid, total, every, side, intensity);
    } finally {
      await bot.stop();
    }
  } finally {
    await fake.close();
  }
}

async function soakRun(fake: FakeDiscord, base: string, pid: number, total: number, every: number, side: string, intensity: string): Promise<void> {
  const health = (await (await fetch(`${base}/healthz`)).json()) as { backend: string };
  const photo = await makePhotoLike(320, 240, 'png');
  process.stdout.write(`soak: ${total} dreams in a row (${intensity}, longest side ${side} px, backend ${health.backend}, one worker), bot pid ${pid}; a report every ${every}\n`);
  const samples: Sample[] = [];
  let window: number[] = [];
  const t0 = Date.now();
  for (let n = 1; n <= total; n++) {
    const started = Date.now();
    const ask = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member(n), options: { intensity }, attachments: { image: { filename: `p${n}.png`, bytes: photo } } }));
    await fake.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(ask.token) && r.files.some((f) => f.filename.startsWith('dream-')), { timeoutMs: 600_000 });
    window.push((Date.now() - started) / 1000);
    if (n % every !== 0 && n !== total) continue;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const sample: Sample = {
      jobs: n,
      rssMiB: mib(gauge(metrics, 'process_resident_memory_bytes')),
      heapMiB: mib(gauge(metrics, 'nodejs_heap_size_used_bytes')),
      fds: Number.isNaN(gauge(metrics, 'process_open_fds')) ? null : gauge(metrics, 'process_open_fds'),
      threads: threadsOf(pid),
      handles: gauge(metrics, 'nodejs_active_resources_total'),
      jobP50s: Math.round(percentile(window, 50) * 100) / 100,
      jobMaxS: Math.round(Math.max(...window) * 100) / 100,
    };
    samples.push(sample);
    window = [];
    process.stdout.write(
      `  ${String(n).padStart(5)} jobs  rss ${sample.rssMiB} MiB  heap ${sample.heapMiB} MiB  fds ${sample.fds ?? '?'}  threads ${sample.threads ?? '?'}  ` +
        `handles ${sample.handles}  job p50 ${sample.jobP50s} s, max ${sample.jobMaxS} s (last ${every})\n`,
    );
    // The fake keeps every request (with the posted images); the bot process is what is measured, not this one.
    fake.requests.splice(0);
  }
  const first = samples[0];
  const last = samples.at(-1)!;
  const summary = {
    jobs: total,
    backend: health.backend,
    side: Number(side),
    intensity,
    minutes: Math.round((Date.now() - t0) / 600) / 100,
    rss_mib: [first.rssMiB, last.rssMiB],
    rss_growth_mib_per_100_jobs: last.jobs > first.jobs ? Math.round(((last.rssMiB - first.rssMiB) / (last.jobs - first.jobs)) * 1000) / 10 : 0,
    heap_mib: [first.heapMiB, last.heapMiB],
    fds: [first.fds, last.fds],
    threads: [first.threads, last.threads],
    handles: [first.handles, last.handles],
    job_p50_s: [first.jobP50s, last.jobP50s],
  };
  process.stdout.write(
    `  from job ${first.jobs} to ${last.jobs}: rss ${first.rssMiB} → ${last.rssMiB} MiB (${summary.rss_growth_mib_per_100_jobs} MiB per 100 jobs), ` +
      `fds ${first.fds} → ${last.fds}, threads ${first.threads} → ${last.threads}, handles ${first.handles} → ${last.handles}\n${JSON.stringify(summary)}\n`,
  );
}

/** The bot as `npm start` runs it, on the fake, with /healthz and /metrics on a free port. */
async function startBotProcess(fake: FakeDiscord, extra: Record<string, string>): Promise<{ base: string; pid: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const env = { ...process.env, ...fakeEnv(fake), QUEUE_DRIVER: 'memory', HEALTH_PORT: String(port), HEALTH_HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...extra };
  const bot = spawn(process.execPath, ['--import', 'tsx/esm', path.resolve('src/bin/bot.ts')], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (bot.exitCode === null) {
      bot.kill('SIGTERM');
      await new Promise((r) => bot.once('exit', r));
    }
  };
  for (let ok = false; !ok; ) {
    if (bot.exitCode !== null) throw new Error(`the bot exited with code ${bot.exitCode} before it was ready`);
    ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
    if (!ok) await new Promise((r) => setTimeout(r, 250));
  }
  return { base, pid: bot.pid!, stop };
}

const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

/** Heap and RSS of the bot process: the least of `samples` scrapes 0.5 s apart, so garbage not yet collected does not count. */
async function memoryOf(base: string, samples = 10): Promise<{ heapMiB: number; rssMiB: number }> {
  let heap = Infinity;
  let rss = Infinity;
  for (let k = 0; k < samples; k++) {
    const text = await (await fetch(`${base}/metrics`)).text();
    heap = Math.min(heap, gauge(text, 'nodejs_heap_size_used_bytes'));
    rss = Math.min(rss, gauge(text, 'process_resident_memory_bytes'));
    await new Promise((r) => setTimeout(r, 500));
  }
  return { heapMiB: Math.round((heap / 2 ** 20) * 10) / 10, rssMiB: Math.round((rss / 2 ** 20) * 10) / 10 };
}

async function flood(total: number, channels: number, rate: number, side: string, shards: number, mentions: string): Promise<void> {
  const fake = await FakeDiscord.start({ channels, shards, maxConcurrency: shards });
  const bot = await startBotProcess(fake, { DREAM_MAX_SIDE: side, MAX_QUEUE: '100', MAX_JOBS_PER_USER: '100', MENTIONS: mentions });
  try {
    const photo = await makePhotoLike(320, 240, 'png');
    let asked = 0;
    const dream = () => fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member(++asked), options: { intensity: 'low' }, attachments: { image: { filename: `p${asked}.png`, bytes: photo } } }));
    const answered = (i: { token: string }) => fake.requests.some((r) => r.method === 'PATCH' && r.path.includes(i.token) && r.files.some((f) => f.filename.startsWith('dream-')));
    const finish = async (asks: { id: string; token: string }[], timeoutMs: number) => {
      const until = Date.now() + timeoutMs;
      while (asks.some((i) => !answered(i)) && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
    };
    // Warm-up: the dream worker loads the model and reaches its working size before anything is measured.
    const warm = [dream(), dream(), dream()];
    await finish(warm, 300_000);
    const before = await memoryOf(bot.base);
    process.stdout.write(`flood: ${total} messages over ${channels} channels at ${rate}/s, a /dream every second; ${shards} shard(s), MENTIONS=${mentions}; bot pid ${bot.pid}\n  after warm-up: heap ${before.heapMiB} MiB, rss ${before.rssMiB} MiB\n`);

    // Chatter from a pool of 5,000 members, none mentioning the bot; batches every 10 ms.
    const authors = Array.from({ length: 5000 }, (_, k) => member(100_000 + k));
    const asks: { id: string; token: string }[] = [];
    const lagP99: number[] = [];
    const t0 = Date.now();
    let sent = 0;
    let nextDream = t0;
    let nextScrape = t0 + 1000;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate));
      for (; sent < due; sent++) {
        fake.dispatchMessage(fake.message({ author: authors[sent % authors.length], content: `chatter ${sent}: nothing for the bot here`, channelId: fake.channelIds[sent % channels] }));
      }
      if (Date.now() >= nextDream) {
        asks.push(dream());
        nextDream += 1000;
      }
      if (Date.now() >= nextScrape) {
        nextScrape += 1000;
        void fetch(`${bot.base}/metrics`).then((r) => r.text()).then((text) => lagP99.push(gauge(text, 'nodejs_eventloop_lag_p99_seconds') * 1000), () => undefined);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const floodSeconds = (Date.now() - t0) / 1000;
    await finish(asks, 600_000);
    const acks = asks.map((i) => fake.ackLatencyMs(i.id) ?? Infinity);
    const dreamsAnswered = asks.filter(answered).length;
    const after = await memoryOf(bot.base);
    const result = {
      messages: total,
      channels,
      shards,
      mentions,
      seconds: Math.round(floodSeconds * 10) / 10,
      heap_mib: [before.heapMiB, after.heapMiB],
      rss_mib: [before.rssMiB, after.rssMiB],
      dreams_during: asks.length,
      dreams_answered: dreamsAnswered,
      ack_p50_ms: percentile(acks, 50),
      ack_p99_ms: percentile(acks, 99),
      ack_max_ms: Math.max(...acks),
      loop_lag_p99_ms_worst_second: Math.round(Math.max(0, ...lagP99.filter(Number.isFinite))),
    };
    process.stdout.write(
      `  ${total} messages in ${result.seconds} s; after the flood: heap ${after.heapMiB} MiB (${after.heapMiB - before.heapMiB >= 0 ? '+' : ''}${Math.round((after.heapMiB - before.heapMiB) * 10) / 10}), ` +
        `rss ${after.rssMiB} MiB (${after.rssMiB - before.rssMiB >= 0 ? '+' : ''}${Math.round((after.rssMiB - before.rssMiB) * 10) / 10})\n` +
        `  /dream during the flood: ${result.dreams_answered}/${result.dreams_during} answered; acknowledged p50 ${result.ack_p50_ms} ms, p99 ${result.ack_p99_ms} ms, max ${result.ack_max_ms} ms\n` +
        `  event-loop lag p99, worst second: ${result.loop_lag_p99_ms_worst_second} ms\n${JSON.stringify(result)}\n`,
    );
  } finally {
    await bot.stop();
    await fake.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '50' },
      seconds: { type: 'string', default: '60' },
      soak: { type: 'string' },
      every: { type: 'string', default: '20' },
      side: { type: 'string', default: process.env.DREAM_MAX_SIDE ?? '256' },
      intensity: { type: 'string', default: 'low' },
      flood: { type: 'string' },
      channels: { type: 'string', default: '200' },
      rate: { type: 'string', default: '1000' },
      shards: { type: 'string', default: '1' },
      mentions: { type: 'string', default: 'on' },
    },
  });
  if (values.flood !== undefined) {
    const [total, channels, rate, shards] = [values.flood, values.channels, values.rate, values.shards].map(Number);
    if (![total, channels, rate, shards].every((n) => Number.isInteger(n) && n >= 1)) throw new Error('--flood, --channels, --rate and --shards take whole numbers, e.g. --flood 60000 --channels 200 --rate 1000');
    return flood(total, channels, rate, values.side, shards, values.mentions);
  }
  if (values.soak !== undefined) {
    const total = Number(values.soak);
    const every = Number(values.every);
    if (!Number.isInteger(total) || total < 1 || !Number.isInteger(every) || every < 1) throw new Error('--soak and --every take a whole number of jobs, e.g. --soak 200 --every 20');
    return soak(total, every, values.side, values.intensity);
  }
  return burst(Number(values.users), Number(values.seconds));
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`loadtest: ${err.message}\n`);
    process.exit(1);
  },
);
