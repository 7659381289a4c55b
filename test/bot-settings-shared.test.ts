import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationCommandOptionType, PermissionFlagsBits, type APIApplicationCommandInteractionDataOption, type APIInteraction } from 'discord.js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startBot, startWorker } from '../src/bin/compose.ts';
import { reportError } from '../src/bin/exit.ts';
import { botConfig } from '../src/config.ts';
import { isUserError } from '../src/errors.ts';
import { english } from '../src/i18n/index.ts';
import { fakeEnv } from './helpers/bot-config.ts';
import { FakeDiscord, snowflake } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { TestPostgres } from './helpers/postgres-server.ts';
import { TestRedis } from './helpers/redis-server.ts';
import { callbackOf, isFollowUp, isOriginalEdit } from './helpers/requests.ts';

// A deployment that scales out: two bot processes' worth of gateway (each its own bot, its own fake gateway) and a
// worker's, sharing Redis and Postgres. What an admin sets through one is what the other and the worker obey.
// Each is composed as its process composes it (startBot, startWorker), with its own database connections and Redis
// clients; nothing in them caches a setting (src/store, src/bot/community.ts read the database at every request),
// so they share only what separate processes share. The worker runs the fake runner, as test/helpers/fake-worker.ts
// does: a worker as a process of its own (its logs, its death, a cancel across processes) is test/redis-queue.test.ts.
const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });

describe('QUEUE_DRIVER=redis with Postgres: settings made through one bot process', () => {
  let redis: TestRedis;
  let pg: TestPostgres;
  const fakes: FakeDiscord[] = [];
  const bots: DreamBot[] = [];
  let worker: { close(): Promise<void> } | undefined;
  let photo: Buffer;

  beforeAll(async () => {
    [redis, pg, photo] = await Promise.all([TestRedis.start(), TestPostgres.start(), makePhotoLike(96, 64, 'png')]);
    const database = await pg.createDatabase('shared');
    for (let i = 0; i < 2; i++) fakes.push(await FakeDiscord.start());
    const env = (fake: FakeDiscord) => ({ ...fakeEnv(fake), DATABASE_URL: database, QUEUE_DRIVER: 'redis', REDIS_URL: redis.url, DREAM_MAX_SIDE: '128', LOG_LEVEL: 'silent' });
    for (const fake of fakes) bots.push(await startBot(botConfig(env(fake)), pino({ level: 'silent' })));
    // The worker posts where the second bot's members asked.
    worker = await startWorker(botConfig(env(fakes[1]), 'worker'), pino({ level: 'silent' }), { runner: new FakeRunner() });
  });
  afterAll(async () => {
    await worker?.close();
    for (const bot of bots) await bot.stop();
    for (const fake of fakes) await fake.close();
    await pg?.close();
    await redis?.down();
  });

  /** An interaction on `fake` in the first fake's server (the same server, reached through either bot). */
  function ask(fake: FakeDiscord, name: string, opts: { sub?: string; options?: Record<string, number>; user?: ReturnType<typeof member>; image?: boolean; admin?: boolean }): APIInteraction {
    const inner = Object.entries(opts.options ?? {}).map(([n, value]) => ({ name: n, type: ApplicationCommandOptionType.Integer, value }));
    const options = opts.sub ? ([{ name: opts.sub, type: ApplicationCommandOptionType.Subcommand, options: inner }] as APIApplicationCommandInteractionDataOption[]) : undefined;
    const i = fake.chatInput({ name, options, user: opts.user, place: { guildId: fakes[0].guildId, channelId: fake.channelId }, attachments: opts.image ? { image: { filename: 'p.png', bytes: photo } } : undefined });
    if (opts.admin && i.member) i.member.permissions = (BigInt(i.member.permissions) | PermissionFlagsBits.ManageGuild).toString();
    return fake.dispatchInteraction(i);
  }
  const privateEdit = async (fake: FakeDiscord, i: APIInteraction) => ((await fake.waitForRequest(isOriginalEdit(i), { fromIndex: 0 })).json as { content: string }).content;

  it('is obeyed by the other bot process, and the worker writes the history both read', async () => {
    const [a, b] = fakes;
    expect(await privateEdit(a, ask(a, 'settings', { sub: 'daily-limit', options: { dreams: 1 }, admin: true }))).toBe(english.community.saved.dailyLimit(1));
    const alice = member('alice');
    const first = ask(b, 'dream', { user: alice, image: true });
    await b.waitForRequest((r) => isOriginalEdit(first)(r) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 30_000 });
    const second = ask(b, 'dream', { user: alice, image: true });
    expect(((await b.waitForRequest(isFollowUp(second), { fromIndex: 0 })).json as { content: string }).content).toMatch(/^You've used 1 of your 1 dream for today; the day starts over at 00:00 UTC/);
    expect(await privateEdit(a, ask(a, 'quota', { user: alice }))).toMatch(/^You have 0 dreams left today \(1 of 1 used\)/);
    // The worker process wrote the dream's end (posted) into the shared history.
    await expect.poll(async () => privateEdit(a, ask(a, 'settings', { sub: 'show', admin: true })), { timeout: 10_000, interval: 100 }).toMatch(/\*\*Last 7 days:\*\* 1 dream posted, 1 member, 1 refusal/);
    expect(b.requests.some((r) => callbackOf(second)(r))).toBe(true);
  });
});

describe('a database that cannot be opened at start-up', () => {
  it('stops npm start before Discord is touched, with one line and exit code 1', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dream-nodb-'));
    const notAFolder = path.join(dir, 'file');
    writeFileSync(notAFolder, '');
    const fake = await FakeDiscord.start();
    try {
      const config = botConfig({ ...fakeEnv(fake), DATABASE_URL: `sqlite:${notAFolder}/db.sqlite`, LOG_LEVEL: 'silent' });
      const err = await startBot(config, pino({ level: 'silent' })).catch((e: unknown) => e);
      expect(isUserError(err)).toBe(true);
      expect(fake.gatewayFrames).toEqual([]);
      // What src/bin/bot.ts does with it (runMain): one line on stderr, exit code 1.
      const lines: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((chunk: string) => (lines.push(chunk), true)) as typeof process.stderr.write;
      let code: number;
      try {
        code = reportError(err, 'deepdream-bot');
      } finally {
        process.stderr.write = write;
      }
      expect(code).toBe(1);
      expect(lines.join('').trim().split('\n')).toEqual([expect.stringMatching(/^deepdream-bot: Could not open the database sqlite:.*\/file\/db\.sqlite: .*\(check DATABASE_URL; README, "Database"\)\.$/)]);
    } finally {
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
