// Load check (a tool beside the tests, on the same fake Discord): 50 members ask at once; prints time-to-acknowledge
// and event-loop lag.
// Usage: npm run loadtest [-- --users 50 --seconds 60]
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startBot } from '../../src/bin/compose.ts';
import { botConfig } from '../../src/config.ts';
import { FakeDiscord, snowflake } from '../helpers/fake-discord.ts';
import { makePhotoLike } from '../helpers/images.ts';

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { users: { type: 'string', default: '50' }, seconds: { type: 'string', default: '60' } } });
  const users = Number(values.users);
  const seconds = Number(values.seconds);
  const fake = await FakeDiscord.start();
  const config = botConfig({
    ...process.env,
    DISCORD_TOKEN: fake.token,
    DISCORD_CLIENT_ID: fake.applicationId,
    DISCORD_API: fake.apiBase,
    ATTACHMENT_URL_PREFIXES: fake.cdnBase,
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
    fake.dispatchInteraction(
      fake.chatInput({
        name: 'dream',
        user: { id: snowflake(), username: `member${k}`, global_name: `member${k}`, discriminator: '0', avatar: null },
        options: { intensity: 'low' },
        attachments: { image: { filename: `p${k}.png`, bytes: photo } },
      }),
    ),
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

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`loadtest: ${err.message}\n`);
    process.exit(1);
  },
);
