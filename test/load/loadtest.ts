// Load check (a tool beside the tests, on the same fake Discord).
//
//   npm run loadtest [-- --users 50 --seconds 60]
//     50 members ask at once; prints time-to-acknowledge and event-loop lag (the bot runs in this process).
//
//   npm run loadtest -- --soak 200 [--every 20 --side 256 --intensity low]
//     200 dreams in a row through a bot started as `npm start` would (a child process, memory queue, the real
//     engine); every N jobs prints the bot process's RSS, heap, open file descriptors, threads and active handles
//     and the job times of the last N, so a leak shows up as a trend before members notice it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startBot } from '../../src/bin/compose.ts';
import { botConfig } from '../../src/config.ts';
import { FakeDiscord, snowflake } from '../helpers/fake-discord.ts';
import { makePhotoLike } from '../helpers/images.ts';
import { freePort } from '../helpers/redis-server.ts';

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
const member = (k: number) => ({ id: snowflake(), username: `member${k}`, global_name: `member${k}`, discriminator: '0', avatar: null });

function fakeEnv(fake: FakeDiscord): Record<string, string> {
  return {
    DISCORD_TOKEN: fake.token,
    DISCORD_CLIENT_ID: fake.applicationId,
    DISCORD_API: fake.apiBase,
    ATTACHMENT_URL_PREFIXES: fake.cdnBase,
  };
}

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
  const port = await freePort();
  const env = { ...process.env, ...fakeEnv(fake), QUEUE_DRIVER: 'memory', DREAM_MAX_SIDE: side, HEALTH_PORT: String(port), HEALTH_HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  const bot = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/bin/bot.ts')], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (bot.exitCode === null) {
      bot.kill('SIGTERM');
      await new Promise((r) => bot.once('exit', r));
    }
    await fake.close();
  };
  try {
    for (let ok = false; !ok; ) {
      if (bot.exitCode !== null) throw new Error(`the bot exited with code ${bot.exitCode} before it was ready`);
      ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
      if (!ok) await new Promise((r) => setTimeout(r, 250));
    }
    const health = (await (await fetch(`${base}/healthz`)).json()) as { backend: string };
    const photo = await makePhotoLike(320, 240, 'png');
    process.stdout.write(`soak: ${total} dreams in a row (${intensity}, longest side ${side} px, backend ${health.backend}, one worker), bot pid ${bot.pid}; a report every ${every}\n`);
    const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
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
        threads: threadsOf(bot.pid!),
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
  } finally {
    await stop();
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
    },
  });
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
