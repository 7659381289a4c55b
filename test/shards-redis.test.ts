import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startBot as composeBot, startWorker } from '../src/bin/compose.ts';
import { botConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { fakeBotConfig, fakeEnv } from './helpers/bot-config.ts';
import { FakeDiscord, snowflake } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { TestRedis } from './helpers/redis-server.ts';
import { callbackOf, isResult as resultOf } from './helpers/requests.ts';

const MAIN = path.resolve('src/bin/bot.ts');
const IDENTIFY_WINDOW_MS = 2000;
const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });

interface Bot {
  log: string;
  child?: ChildProcess;
  inProcess?: DreamBot;
}

// One bot is `npm start` in a process of its own, the other is composed in this test's process as src/bin/bot.ts
// composes it (startBot): two processes, sharing only Redis (and the fake Discord).
describe('two bot processes share the shards (SHARD_IDS=0,1 and 2,3, Redis mode)', () => {
  let fake: FakeDiscord;
  let redis: TestRedis;
  let worker: { close(): Promise<void> } | undefined;
  const bots: Bot[] = [];

  const env = (shardIds: string) => ({
    ...fakeEnv(fake),
    QUEUE_DRIVER: 'redis',
    REDIS_URL: redis.url,
    SHARD_COUNT: '4',
    SHARD_IDS: shardIds,
    LOG_LEVEL: 'info',
    // Discord's 5 s, shortened: the pacing is the same, the test waits less.
    DISCORD_IDENTIFY_WINDOW_MS: String(IDENTIFY_WINDOW_MS),
  });

  /** A bot started as `npm start`, with only these settings (no developer .env). */
  function startBotProcess(shardIds: string): Bot {
    const child = spawn(process.execPath, ['--import', 'tsx/esm', MAIN], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env(shardIds) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const bot: Bot = { child, log: '' };
    child.stdout!.on('data', (d: Buffer) => (bot.log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (bot.log += d.toString()));
    bots.push(bot);
    return bot;
  }

  /** A bot composed here as `npm start` composes it, logging (as JSON lines) where the test reads them. */
  async function startBotHere(shardIds: string): Promise<Bot> {
    const bot: Bot = { log: '' };
    bots.push(bot);
    const config = botConfig(env(shardIds));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        bot.log += chunk.toString();
        done();
      },
    });
    bot.inProcess = await composeBot(config, createLogger('info', [config.token], sink));
    return bot;
  }

  async function connected(bot: Bot): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!/connected to Discord/.test(bot.log)) {
      if (bot.child?.exitCode != null || Date.now() > deadline) throw new Error(`bot did not connect: ${bot.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    redis = await TestRedis.start();
    // max_concurrency 2: shards 0 and 2 share identify bucket 0, shards 1 and 3 bucket 1, across the two processes.
    fake = await FakeDiscord.start({ shards: 4, maxConcurrency: 2 });
    worker = await startWorker(fakeBotConfig(fake, { QUEUE_DRIVER: 'redis', REDIS_URL: redis.url }), pino({ level: 'silent' }), { runner: new FakeRunner() });
  });

  afterAll(async () => {
    for (const { child, inProcess } of bots) {
      await inProcess?.stop();
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
    await worker?.close();
    await fake?.close();
    await redis?.down();
  });

  it('identify each shard exactly once between them, one bucket at a time (paced in Redis), and each /dream is answered once', async () => {
    // The second bot starts as soon as the first has identified its shards, well within the window: unpaced, it would
    // identify shards 2 and 3 a moment after 0 and 1; paced in Redis, each waits for its bucket's window to pass.
    const a = startBotProcess('0,1');
    await connected(a);
    const b = await startBotHere('2,3');
    await connected(b);
    const identifies = fake.identifies();
    expect(identifies.map((i) => i.shard).sort()).toEqual([[0, 4], [1, 4], [2, 4], [3, 4]]);
    // One shard of a bucket identifies per window, whichever process holds it (a little slack for delivery).
    const at = (shard: number) => identifies.find((i) => i.shard![0] === shard)!.at;
    expect(Math.abs(at(0) - at(2))).toBeGreaterThanOrEqual(IDENTIFY_WINDOW_MS * 0.9);
    expect(Math.abs(at(1) - at(3))).toBeGreaterThanOrEqual(IDENTIFY_WINDOW_MS * 0.9);
    const held = (bot: Bot) => (JSON.parse(bot.log.split('\n').find((l) => l.includes('connected to Discord'))!) as { shards: number[]; shardCount: number });
    expect(held(a)).toMatchObject({ shards: [0, 1], shardCount: 4 });
    expect(held(b)).toMatchObject({ shards: [2, 3], shardCount: 4 });

    const photo = await makePhotoLike(64, 48, 'png');
    const asks = [0, 1, 2, 3].map((shard) =>
      fake.dispatchInteraction(
        fake.chatInput({ name: 'dream', user: member(`m${shard}`), options: { intensity: 'low' }, attachments: { image: { filename: 'p.png', bytes: photo } }, place: fake.guildOnShard(shard) }),
      ),
    );
    for (const ask of asks) await fake.waitForRequest(resultOf(ask), { fromIndex: 0, timeoutMs: 20_000 });
    // Give a second answerer the time it would need to show up.
    await new Promise((r) => setTimeout(r, 300));
    for (const ask of asks) {
      expect(fake.requests.filter(callbackOf(ask))).toHaveLength(1);
      expect(fake.requests.filter(resultOf(ask))).toHaveLength(1);
    }
  });
});
