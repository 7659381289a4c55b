import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationCommandOptionType, Locale, PermissionFlagsBits, type APIApplicationCommandInteractionDataOption, type APIInteraction } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { english } from '../src/i18n/index.ts';
import { nextUtcMidnight } from '../src/store/index.ts';
import { data as settingsCommand } from '../commands/settings.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord, snowflake, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { TestPostgres } from './helpers/postgres-server.ts';
import { callbackOf, isFollowUp, isOriginalEdit } from './helpers/requests.ts';

// /settings and /quota on the fake Discord, with the database they are kept in: a real SQLite file, then a real
// Postgres. Dreams run on the fake runner (the engine is not the subject).

const words = english.community;
const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });
/** An interaction whose member can manage the server (Discord sends the member's permissions with it). */
function asAdmin<T extends APIInteraction>(i: T): T {
  if (i.member) i.member.permissions = (BigInt(i.member.permissions) | PermissionFlagsBits.ManageGuild).toString();
  return i;
}

let pg: TestPostgres;
let dir: string;
let photo: Buffer;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'dream-settings-'));
  [pg, photo] = await Promise.all([TestPostgres.start(), makePhotoLike(96, 64, 'png')]);
});
afterAll(async () => {
  await pg?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('/settings is registered for members who can manage the server, in servers only', () => {
  const json = settingsCommand.toJSON();
  expect(json.default_member_permissions).toBe(PermissionFlagsBits.ManageGuild.toString());
  expect(json.contexts).toEqual([0]);
});

describe.each(['sqlite', 'postgres'] as const)('server settings kept in %s', (kind) => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let runner: FakeRunner;
  let env: Record<string, string>;
  const admin = member('admin');

  beforeAll(async () => {
    fake = await FakeDiscord.start({ channels: 2 });
    runner = new FakeRunner({ msPerMegapixel: 0, msPerFrame: 1 });
    const url = kind === 'sqlite' ? `sqlite:${path.join(dir, 'settings.sqlite')}` : await pg.createDatabase('settings');
    env = { DATABASE_URL: url, DREAM_MAX_SIDE: '128', STATUS_EDIT_INTERVAL_MS: '20' };
    bot = await startTestBot(fake, env, runner);
  });
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  /** `/settings <sub> …` (or `/quota`); resolves with the private answer's text. */
  async function command(name: 'settings' | 'quota', opts: { sub?: string; options?: Record<string, string | number | boolean>; user?: ReturnType<typeof member>; manager?: boolean; channel?: { type: ApplicationCommandOptionType; value: string } } = {}) {
    const inner: APIApplicationCommandInteractionDataOption[] = Object.entries(opts.options ?? {}).map(([n, v]) => ({
      name: n,
      type: typeof v === 'string' ? ApplicationCommandOptionType.String : typeof v === 'boolean' ? ApplicationCommandOptionType.Boolean : ApplicationCommandOptionType.Integer,
      value: v,
    })) as APIApplicationCommandInteractionDataOption[];
    if (opts.channel) inner.push({ name: 'channel', type: ApplicationCommandOptionType.Channel, value: opts.channel.value } as APIApplicationCommandInteractionDataOption);
    const options = opts.sub ? ([{ name: opts.sub, type: ApplicationCommandOptionType.Subcommand, options: inner }] as APIApplicationCommandInteractionDataOption[]) : [];
    const i = fake.chatInput({ name, options, user: opts.user ?? admin });
    return answer(fake.dispatchInteraction(opts.manager === false ? i : asAdmin(i)));
  }

  /** The private answer to an interaction: an immediate ephemeral reply, or the edit of a private deferral. */
  async function answer(i: APIInteraction): Promise<string> {
    const first = await fake.waitForRequest(callbackOf(i), { fromIndex: 0 });
    const body = first.json as { type: number; data?: { content?: string; flags?: number } };
    expect(body.data?.flags).toBe(64);
    if (body.type === 4) return body.data!.content!;
    const edit = await fake.waitForRequest(isOriginalEdit(i), { fromIndex: 0 });
    return (edit.json as { content: string }).content;
  }

  const dream = (user: ReturnType<typeof member>, channelId = fake.channelId) =>
    fake.dispatchInteraction(fake.chatInput({ name: 'dream', user, place: { guildId: fake.guildId, channelId }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
  const result = (i: { token: string }) => fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => /dream-/.test(f.filename)), { fromIndex: 0, timeoutMs: 20_000 });
  const refusal = async (i: { token: string }) => ((await fake.waitForRequest(isFollowUp(i), { fromIndex: 0 })).json as { content: string; flags: number });

  it('refuses /settings to a member who cannot manage the server, privately', async () => {
    expect(await command('settings', { sub: 'show', user: member('bob'), manager: false })).toBe(words.notManager);
    expect(await command('settings', { sub: 'daily-limit', options: { dreams: 5 }, user: member('bob'), manager: false })).toBe(words.notManager);
    expect(await command('settings', { sub: 'show' })).toContain('**Daily limit:** none');
  });

  it('daily-limit dreams:1: the second dream is refused with the reset time, and /quota says 0 left', async () => {
    expect(await command('settings', { sub: 'daily-limit', options: { dreams: -1 } })).toBe(words.negativeLimit);
    expect(await command('settings', { sub: 'daily-limit', options: { dreams: 1 } })).toBe(words.saved.dailyLimit(1));
    const alice = member('alice');
    const first = dream(alice);
    await result(first);
    // Its history: who, where, what, how it ended, and the link to the posted result (never the picture).
    // (written once the result is posted)
    await expect.poll(async () => (await bot.ctx.community.store.history(fake.guildId, 1))[0]?.outcome, { timeout: 10_000, interval: 20 }).toBe('done');
    const [row] = await bot.ctx.community.store.history(fake.guildId, 1);
    expect(row).toMatchObject({ guild_id: fake.guildId, channel_id: fake.channelId, user_id: alice.id, kind: 'dream', cost: 1, outcome: 'done', counted_day: new Date().toISOString().slice(0, 10) });
    expect(row.message_link).toBe(`https://discord.com/channels/${fake.guildId}/${fake.channelId}/${fake.originalMessage(first.id)!.id}`);
    expect(row.recipe).toMatchObject({ params: { intensity: 'medium' } });
    expect(row.seconds).toBeGreaterThan(0);
    const midnight = Math.floor(nextUtcMidnight(Date.now()) / 1000);
    const second = await refusal(dream(alice));
    expect(second).toEqual({ content: `You've used 1 of your 1 dream for today; the day starts over at 00:00 UTC (<t:${midnight}:R>).`, flags: 64 });
    expect(await command('quota', { user: alice })).toBe(`You have 0 dreams left today (1 of 1 used); the day starts over at 00:00 UTC (<t:${midnight}:R>).`);
    // Another member has a day of their own.
    const bob = member('bob');
    expect(await command('quota', { user: bob })).toMatch(/^You have 1 dream left today/);
    const inJapanese = asAdmin(fake.chatInput({ name: 'quota', user: bob }));
    inJapanese.locale = Locale.Japanese;
    expect(await answer(fake.dispatchInteraction(inJapanese))).toMatch(/^今日はあと 1 回ドリームできます（1 回中 0 回使用）。日付は UTC 0 時/);
    // A zoom counts its cost: 40 frames are ceil(40 / 8) = 5 dreams, more than bob's day has.
    const zoom = fake.dispatchInteraction(fake.chatInput({ name: 'zoom', user: bob, options: { frames: 40 }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    expect((await refusal(zoom)).content).toBe(`That costs 5 dreams and you have 1 left today; the day starts over at 00:00 UTC (<t:${midnight}:R>).`);
    expect(await command('settings', { sub: 'show' })).toMatch(/\*\*Daily limit:\*\* 1 dream per member[^]*\*\*Last 7 days:\*\* 1 dream posted, 2 members, 2 refusals/);
    expect(await command('settings', { sub: 'daily-limit', options: { dreams: 0 } })).toBe(words.saved.dailyLimit(0));
    await result(dream(alice));
  });

  it('a dream the queue refuses (too many of yours waiting) is not counted against the day', async () => {
    await command('settings', { sub: 'daily-limit', options: { dreams: 5 } });
    const dana = member('dana');
    runner.hold();
    try {
      const asks = [dream(dana), dream(dana)];
      await fake.waitForRequest((r) => isOriginalEdit(asks[1])(r), { fromIndex: 0 }); // both accepted (MAX_JOBS_PER_USER=2)
      expect((await refusal(dream(dana))).content).toBe(english.refusals.userLimit(2));
      expect(await command('quota', { user: dana })).toMatch(/^You have 3 dreams left today \(2 of 5 used\)/);
    } finally {
      runner.release();
    }
    await command('settings', { sub: 'daily-limit', options: { dreams: 0 } });
  });

  it('safety policy:spoiler posts an explicit input as a spoiler where NSFW_POLICY would block it', async () => {
    runner.explicitScore = 0.9;
    try {
      const blocked = await refusal(dream(member('m1')));
      expect(blocked.content).toBe(english.refusals.nsfw);
      expect(await command('settings', { sub: 'safety', options: { policy: 'spoiler' } })).toBe(words.saved.safety('spoiler'));
      const done = await result(dream(member('m1')));
      expect(done.files.map((f) => f.filename).every((f) => f.startsWith('SPOILER_'))).toBe(true);
      expect(await command('settings', { sub: 'show' })).toContain('**Safety:** spoiler\n');
    } finally {
      runner.explicitScore = 0;
    }
  });

  it('mentions enabled:false: a mention on an image is not dreamed; on again, it is', async () => {
    const image = fake.message({ author: fake.users.bob, attachments: [{ filename: 'p.png', bytes: photo }] });
    fake.addMessage(image);
    expect(await command('settings', { sub: 'mentions', options: { enabled: false } })).toBe(words.saved.mentions(false));
    // Wait until the bot has read the setting for the ignored mention (a database round trip) before turning it back on.
    const looked = vi.spyOn(bot.ctx.community, 'mentionsOpen');
    const ignored = fake.dispatchMessage(fake.message({ author: fake.users.alice, content: 'dream', mentionsBot: true, referencedMessage: image }));
    await vi.waitFor(() => expect(looked).toHaveBeenCalledTimes(1), { timeout: 30_000 });
    expect(await looked.mock.results[0].value).toBe(false);
    looked.mockRestore();
    expect(await command('settings', { sub: 'mentions', options: { enabled: true } })).toBe(words.saved.mentions(true));
    const asked = fake.dispatchMessage(fake.message({ author: fake.users.alice, content: 'dream', mentionsBot: true, referencedMessage: image }));
    const replyTo = (m: { id: string }) => (r: RecordedRequest) => r.method === 'POST' && (r.json as { message_reference?: { message_id?: string } } | null)?.message_reference?.message_id === m.id;
    await fake.waitForRequest(replyTo(asked), { fromIndex: 0 });
    // The ignored mention got no reply at all.
    expect(fake.requests.some(replyTo(ignored))).toBe(false);
  });

  it('channels mode:listed keeps the bot to the listed channels; elsewhere one private sentence names them', async () => {
    const open = fake.guilds[0].channelIds[1];
    expect(await command('settings', { sub: 'channel', options: { allowed: true }, channel: { type: ApplicationCommandOptionType.Channel, value: open } })).toBe(
      words.saved.channel(`<#${open}>`, true, 'everywhere'),
    );
    expect(await command('settings', { sub: 'channel', options: { allowed: true }, channel: { type: ApplicationCommandOptionType.Channel, value: snowflake() } })).toBe(words.foreignChannel);
    expect(await command('settings', { sub: 'channels', options: { mode: 'listed' } })).toBe(words.saved.channels('listed', [`<#${open}>`]));
    try {
      expect(await refusal(dream(member('m2')))).toEqual({ content: words.channelClosed([`<#${open}>`]), flags: 64 });
      await result(dream(member('m2'), open));
    } finally {
      expect(await command('settings', { sub: 'channels', options: { mode: 'everywhere' } })).toBe(words.saved.channels('everywhere', [`<#${open}>`]));
    }
  });

  // Postgres only: an embedded SQLite file cannot go down while the bot runs (an unwritable one stops the start).
  if (kind === 'postgres')
    it('a database that is down: one private sentence for /settings, /quota and a dream; a dream accepted before is posted, and its history written once it is back', async () => {
      // A dream accepted (counted, its history row written) before the database goes down, held at the runner.
      const early = member('m4');
      runner.hold();
      const held = new Promise<void>((resolve) => (runner.gate!.onHeld = resolve));
      const accepted = dream(early);
      await held;
      await pg.down();
      try {
        expect(await command('settings', { sub: 'safety', options: { policy: 'off' } })).toBe(words.unavailable);
        expect(await command('quota')).toBe(words.unavailable);
        expect(await refusal(dream(member('m3')))).toEqual({ content: words.unavailable, flags: 64 });
        // Let it go: its result is posted while the database is still down; its ending is kept for later.
        runner.release();
        await result(accepted);
        await vi.waitFor(() => expect(bot.ctx.community.store.unwrittenEndings).toBe(1), { timeout: 10_000 });
      } finally {
        runner.release();
        await pg.up();
      }
      await result(dream(member('m3'))); // its admission reaches the database, and the kept ending is written after it
      await vi.waitFor(() => expect(bot.ctx.community.store.unwrittenEndings).toBe(0), { timeout: 10_000 });
      const [row] = (await bot.ctx.community.store.history(fake.guildId, 10)).filter((r) => r.user_id === early.id);
      expect(row).toMatchObject({ outcome: 'done', message_link: `https://discord.com/channels/${fake.guildId}/${fake.channelId}/${fake.originalMessage(accepted.id)!.id}` });
      expect(await command('settings', { sub: 'show' })).toContain('**Safety:** spoiler\n'); // nothing half-written
    });

  it('settings and daily counts survive a restart of the bot', async () => {
    const carol = member('carol');
    await command('settings', { sub: 'daily-limit', options: { dreams: 2 } });
    await command('settings', { sub: 'intensity', options: { default: 'high' } });
    await result(dream(carol));
    await bot.stop();
    bot = await startTestBot(fake, env, runner);
    expect(await command('quota', { user: carol })).toMatch(/^You have 1 dream left today \(1 of 2 used\)/);
    expect(await command('settings', { sub: 'show' })).toMatch(/\*\*Safety:\*\* spoiler\n\*\*Daily limit:\*\* 2 dreams per member[^]*\*\*Default intensity:\*\* high/);
    // The server's default intensity is what a dream without one takes.
    const done = await result(dream(carol));
    expect(JSON.stringify(done.json)).toMatch(/"name":"Intensity","value":"high/i);
    expect(await refusal(dream(carol))).toMatchObject({ content: expect.stringMatching(/^You've used 2 of your 2 dreams for today/) });
    await command('settings', { sub: 'daily-limit', options: { dreams: 0 } });
  });
});
