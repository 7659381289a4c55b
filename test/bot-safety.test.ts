import type { APIEmbed } from 'discord.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { english } from '../src/i18n/index.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { isFollowUp, isOriginalEdit } from './helpers/requests.ts';

const NSFW_REFUSAL = english.refusals.nsfw;

const result = (fake: FakeDiscord, i: { token: string }, prefix: RegExp) =>
  fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => prefix.test(f.filename)), { fromIndex: 0, timeoutMs: 20_000 });

/** Marks the fake's channel age-restricted (or not) the way Discord tells a bot: a CHANNEL_UPDATE. */
async function setAgeRestricted(fake: FakeDiscord, bot: DreamBot, nsfw: boolean): Promise<void> {
  fake.dispatch('CHANNEL_UPDATE', { ...fake.channel, nsfw });
  await expect.poll(() => (bot.client.channels.cache.get(fake.channelId) as { nsfw?: boolean } | undefined)?.nsfw, { timeout: 10_000, interval: 20 }).toBe(nsfw);
}

describe('safe for community channels: NSFW_POLICY=block (the default)', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let runner: FakeRunner;
  let photo: Buffer;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(160, 120, 'png');
    runner = new FakeRunner({ msPerMegapixel: 0, msPerFrame: 2 }); // 2 ms a step or frame: a job that must keep running is held
    bot = await startTestBot(fake, { DREAM_MAX_SIDE: '256', HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1', STATUS_EDIT_INTERVAL_MS: '50' }, runner);
  });
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  const dream = () => fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));

  it('refuses an input screened as explicit privately, before any dream work, and counts it', async () => {
    runner.explicitScore = 0.9;
    const dreamsBefore = runner.inputs.length;
    const i = dream();
    const refusal = await fake.waitForRequest(isFollowUp(i), { fromIndex: 0 });
    expect(refusal.json).toEqual({ content: NSFW_REFUSAL, flags: 64 });
    // The public "thinking…" reply is gone, and nothing was dreamed.
    expect(fake.requests.some((r) => r.method === 'DELETE' && r.path.includes('%40original') && r.path.includes(i.token))).toBe(true);
    expect(runner.inputs.length).toBe(dreamsBefore);
    const metrics = await (await fetch(`${bot.healthAddress()}/metrics`)).text();
    expect(metrics).toMatch(/^deepdream_nsfw_refusals_total 1$/m);
    expect(metrics).toMatch(/^deepdream_jobs_total\{outcome="refused"\} 1$/m);
  });

  it('screens Explain inputs the same way', async () => {
    runner.explicitScore = 0.9;
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'explain', attachments: { image: { filename: 'p.png', bytes: photo } } }));
    expect((await fake.waitForRequest(isFollowUp(i), { fromIndex: 0 })).json).toEqual({ content: NSFW_REFUSAL, flags: 64 });
  });

  it('dreams an ordinary photo, and anything in an age-restricted channel without screening it', async () => {
    runner.explicitScore = 0.01;
    await result(fake, dream(), /^dream-/);
    runner.explicitScore = 0.9;
    await setAgeRestricted(fake, bot, true);
    const screened = runner.screened;
    const done = await result(fake, dream(), /^dream-/);
    expect(runner.screened).toBe(screened);
    expect(done.files.every((f) => !f.filename.startsWith('SPOILER_'))).toBe(true);
    await setAgeRestricted(fake, bot, false);
  });
});

describe('NSFW_POLICY=spoiler', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let runner: FakeRunner;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    runner = new FakeRunner({ msPerMegapixel: 0, msPerFrame: 2 }); // 2 ms a step or frame: a job that must keep running is held
    bot = await startTestBot(fake, { DREAM_MAX_SIDE: '256', NSFW_POLICY: 'spoiler', NSFW_THRESHOLD: '0.3', STATUS_EDIT_INTERVAL_MS: '50' }, runner);
  });
  afterEach(() => runner.release());
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  it('dreams an input over the threshold and posts it as a spoiler, previews included; an ordinary one as it is', async () => {
    const photo = await makePhotoLike(160, 120, 'png');
    runner.explicitScore = 0.4;
    runner.hold('end'); // the result waits until a preview has been posted
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => /preview/.test(f.filename)), { fromIndex: 0, timeoutMs: 20_000 });
    runner.release();
    const done = await result(fake, i, /^SPOILER_dream-/);
    expect((done.json as { embeds: APIEmbed[] }).embeds[0].image).toBeUndefined();
    const files = fake.requests.filter(isOriginalEdit(i)).flatMap((r) => r.files.map((f) => f.filename));
    expect(files.length).toBeGreaterThan(1);
    expect(files.every((f) => f.startsWith('SPOILER_'))).toBe(true);

    runner.explicitScore = 0.1;
    const j = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    const plain = await result(fake, j, /^dream-/);
    expect((plain.json as { embeds: APIEmbed[] }).embeds[0].image).toBeDefined();
  });
});
