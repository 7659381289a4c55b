import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { APIEmbed, APIMessage, APIUser } from 'discord.js';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord, snowflake, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { callbackOf, isFollowUp, isOriginalEdit } from './helpers/requests.ts';

const run = promisify(execFile);

function member(name: string): APIUser {
  return { id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null };
}

describe('the Discord bot against a fake Discord', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let photo: Buffer;

  let runner: FakeRunner;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(160, 120, 'png');
    // Bot behaviour runs on a fake runner, 2 ms a step (a test that needs a dream to keep running holds it), with
    // progress edits every 50 ms instead of 2 s; bot-styles, bot-process and redis-queue tests dream with the real engine.
    runner = new FakeRunner({ msPerMegapixel: 0, msPerFrame: 2 });
    bot = await startTestBot(fake, { DREAM_MAX_SIDE: '384', DREAM_CONCURRENCY: '1', MAX_QUEUE: '2', MAX_JOBS_PER_USER: '2', SHUTDOWN_GRACE_MS: '5000', STATUS_EDIT_INTERVAL_MS: '50' }, runner);
  });

  // A test that needs a dream to keep running holds the runner; never past the test.
  afterEach(() => runner.release());

  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  /** Waits until the queue has drained, so tests do not see each other's jobs. */
  async function idle(): Promise<void> {
    await expect.poll(() => bot.queue.snapshot().running + bot.queue.snapshot().waiting, { timeout: 30_000, interval: 20 }).toBe(0);
  }

  async function finalEdit(i: { token: string }): Promise<RecordedRequest> {
    return fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 60_000 });
  }

  it('/dream: acknowledges at once, shows progress, and posts the dream with its recipe and buttons', async () => {
    runner.hold('end'); // the result waits until the progress and the previews have been seen
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low', seed: 1234 }, attachments: { image: { filename: 'cat.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename === 'preview.jpg'), { fromIndex: 0, timeoutMs: 20_000 });
    runner.release();
    const done = await finalEdit(i);
    expect(fake.interactionCallbacks(i.id)[0].json).toMatchObject({ type: 5 }); // deferred, public
    expect(fake.ackLatencyMs(i.id)).toBeLessThan(3000);
    const file = done.files.find((f) => f.filename.startsWith('dream-'))!;
    const meta = await sharp(file.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([160, 120]);
    const body = done.json as { embeds: APIEmbed[]; components: { components: { custom_id: string }[] }[] };
    const fields = Object.fromEntries(body.embeds[0].fields!.map((f) => [f.name, f.value]));
    expect(fields).toMatchObject({ Model: 'inception_v3', Intensity: 'low', Layers: 'mixed3, mixed5', 'Octaves × steps': '2 × 6', Seed: '1234', Size: '160×120' });
    expect(fields.Backend).toMatch(/wasm|cpu|tensorflow/);
    expect(body.embeds[0].url).toContain(fake.cdnBase);
    expect(body.components[0].components.map((c) => c.custom_id)).toEqual(['dream:deeper', 'dream:reroll', 'dream:explain', 'dream:animate', `dream:delete:${fake.users.alice.id}`]);
    // Progress came before the result, with a Cancel button.
    const edits = fake.requests.filter(isOriginalEdit(i));
    expect(edits.length).toBeGreaterThan(1);
    expect(JSON.stringify(edits[0].json)).toMatch(/dream:cancel:/);
    // Every Cancel button, on the waiting and on the progress messages, names the job.
    const progress = edits.filter((e) => /Dreaming/.test(JSON.stringify(e.json)));
    expect(progress.length).toBeGreaterThan(0);
    for (const e of progress) expect(JSON.stringify(e.json)).toMatch(/"custom_id":"dream:cancel:j\d+"/);
    expect(edits.some((e) => e.files.some((f) => f.filename === 'preview.jpg'))).toBe(true); // end-of-octave preview
    expect(fake.unknownRequests()).toEqual([]);
  });

  it('Reroll dreams the same input with a new seed; Dream deeper dreams the result again', async () => {
    // Its own first dream, so this test does not depend on another's result.
    const first = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low', seed: 1234 }, attachments: { image: { filename: 'cat.png', bytes: photo } } }));
    await finalEdit(first);
    const message = fake.originalMessage(first.id) as APIMessage;
    const reroll = fake.dispatchInteraction(fake.button({ customId: 'dream:reroll', message, user: fake.users.bob }));
    const rerolled = await finalEdit(reroll);
    const fieldsOf = (r: RecordedRequest) => Object.fromEntries((r.json as { embeds: APIEmbed[] }).embeds[0].fields!.map((f) => [f.name, f.value]));
    expect(fieldsOf(rerolled)).toMatchObject({ Intensity: 'low', 'Octaves × steps': '2 × 6' });
    expect(fieldsOf(rerolled).Seed).not.toBe('1234');
    expect((rerolled.json as { embeds: APIEmbed[] }).embeds[0].url).toBe(message.embeds[0].url);

    const deeper = fake.dispatchInteraction(fake.button({ customId: 'dream:deeper', message, user: fake.users.bob }));
    const deepened = await finalEdit(deeper);
    expect(fieldsOf(deepened)).toMatchObject({ Intensity: 'low', Seed: '1234' });
    // Its source is the first result's image, not the original upload.
    expect((deepened.json as { embeds: APIEmbed[] }).embeds[0].url).toBe(message.attachments[0].url);
  });

  it('"Dream" in the Apps menu dreams the message\'s image, and explains when there is none', async () => {
    await idle();
    const target = fake.dispatchMessage(fake.message({ author: fake.users.bob, content: 'look', attachments: [{ filename: 'lake.png', bytes: photo }] }));
    const i = fake.dispatchInteraction(fake.messageContextMenu({ name: 'Dream', target }));
    const done = await finalEdit(i);
    expect((done.json as { embeds: APIEmbed[] }).embeds[0].title).toContain('medium');

    const plain = fake.dispatchMessage(fake.message({ content: 'no pictures here' }));
    const j = fake.dispatchInteraction(fake.messageContextMenu({ name: 'Dream', target: plain }));
    const answer = await fake.waitForRequest(callbackOf(j), { fromIndex: 0 });
    expect(answer.json).toMatchObject({ type: 4, data: { content: 'That message has no image I can dream.', flags: 64 } });
  });

  it('a reply that mentions the bot gets the dream of the replied-to image as a reply', async () => {
    await idle();
    const image = fake.dispatchMessage(fake.message({ author: fake.users.bob, attachments: [{ filename: 'dog.jpg', bytes: photo, contentType: 'image/png' }] }));
    const from = fake.requests.length;
    const ask = fake.dispatchMessage(fake.message({ author: fake.users.alice, content: 'nightmare please', mentionsBot: true, referencedMessage: image }));
    const posted = await fake.waitForRequest((r) => r.method === 'POST' && r.path === `/channels/${fake.channelId}/messages`, { fromIndex: from });
    expect(posted.json).toMatchObject({ message_reference: { message_id: ask.id } });
    const final = await fake.waitForRequest((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${fake.channelId}/messages/`) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: from, timeoutMs: 60_000 });
    expect((final.json as { embeds: APIEmbed[] }).embeds[0].title).toContain('nightmare');
  });

  it('a mention without any image gets a short explanation', async () => {
    const from = fake.requests.length;
    const ask = fake.dispatchMessage(fake.message({ author: fake.users.alice, content: 'dream this', mentionsBot: true }));
    const answer = await fake.waitForRequest((r) => r.method === 'POST' && r.path === `/channels/${fake.channelId}/messages`, { fromIndex: from });
    expect(answer.json).toMatchObject({ message_reference: { message_id: ask.id } });
    expect((answer.json as { content: string }).content).toMatch(/^I see no image here\./);
  });

  it('refuses a text file named .png with one private sentence', async () => {
    await idle();
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', attachments: { image: { filename: 'notes.png', bytes: Buffer.from('just some text, honest'), contentType: 'image/png' } } }));
    const followUp = await fake.waitForRequest(isFollowUp(i), { fromIndex: 0 });
    expect(followUp.json).toMatchObject({ flags: 64 });
    expect((followUp.json as { content: string }).content).toMatch(/not an image/);
    // The public "thinking…" reply was removed, so nothing of the refusal is public.
    expect(fake.requests.some((r) => r.method === 'DELETE' && r.path.includes('%40original') && r.path.includes(i.token))).toBe(true);
  });

  it('never fetches an image from a host that is not allowed', async () => {
    await idle();
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', attachments: { image: { filename: 'x.png', url: 'http://127.0.0.1:9/elsewhere/x.png', contentType: 'image/png', size: 1000 } } }));
    const answer = await fake.waitForRequest(callbackOf(i), { fromIndex: 0 });
    expect(answer.json).toMatchObject({ type: 4, data: { flags: 64 } });
    expect((answer.json as { data: { content: string } }).data.content).toMatch(/only dream images uploaded to Discord/);
  });

  /** Presses a job's Cancel button as `user`; returns the button interaction. */
  async function pressCancel(i: { id: string; token: string }, user: APIUser) {
    const status = await fake.waitForRequest((r) => isOriginalEdit(i)(r) && /dream:cancel:/.test(JSON.stringify(r.json)), { fromIndex: 0, timeoutMs: 20_000 });
    const jobId = /dream:cancel:(\w+)/.exec(JSON.stringify(status.json))![1];
    const press = fake.dispatchInteraction(fake.button({ customId: `dream:cancel:${jobId}`, message: fake.originalMessage(i.id) as APIMessage, user }));
    await fake.waitForRequest(callbackOf(press), { fromIndex: 0 });
    return press;
  }

  /** The one request of `asks` that was refused privately (downloads finish in any order). */
  async function refusedAmong<T extends { token: string }>(asks: T[]): Promise<{ refused: T; text: string; flags: unknown }> {
    const r = await fake.waitForRequest((q) => asks.some((a) => isFollowUp(a)(q)), { fromIndex: 0, timeoutMs: 20_000 });
    const body = r.json as { content: string; flags: unknown };
    return { refused: asks.find((a) => isFollowUp(a)(r))!, text: body.content, flags: body.flags };
  }

  const statusOf = (i: { token: string }) => {
    const edits = fake.requests.filter(isOriginalEdit(i));
    return edits.length ? JSON.stringify(edits.at(-1)!.json) : '';
  };

  it('refuses when the queue is full, and moves waiting jobs up when one is cancelled', async () => {
    await idle();
    const users = [member('u1'), member('u2'), member('u3'), member('u4')];
    runner.hold(); // the first dream runs until it is cancelled
    const asks = users.map((user) => fake.dispatchInteraction(fake.chatInput({ name: 'dream', user, options: { intensity: 'nightmare' }, attachments: { image: { filename: 'a.png', bytes: photo } } })));
    // One runs, two wait (MAX_QUEUE=2), the last to arrive is told the queue is full, privately.
    const { refused, text, flags } = await refusedAmong(asks);
    expect(flags).toBe(64);
    expect(text).toMatch(/^The queue is full \(2 waiting\); try again in ~\d+ min\.$/);
    expect([bot.queue.snapshot().running, bot.queue.snapshot().waiting]).toEqual([1, 2]);
    const accepted = asks.filter((a) => a !== refused);
    await fake.waitForRequest((r) => accepted.some((a) => isOriginalEdit(a)(r)) && /position 2/.test(JSON.stringify(r.json)), { fromIndex: 0 });
    const first = accepted.find((a) => /position 1/.test(statusOf(a)))!;
    const second = accepted.find((a) => /position 2/.test(statusOf(a)))!;
    const running = accepted.find((a) => a !== first && a !== second)!;

    // Cancelling the first waiting job moves the second up to position 1 at once.
    await pressCancel(first, users[asks.indexOf(first)]);
    await fake.waitForRequest((r) => isOriginalEdit(second)(r) && /position 1/.test(JSON.stringify(r.json)), { fromIndex: 0 });
    expect(bot.queue.snapshot().waiting).toBe(1);
    for (const a of [second, running]) await pressCancel(a, users[asks.indexOf(a)]);
    runner.release();
  });

  it('caps the jobs of one member', async () => {
    await idle();
    const carol = member('carol');
    runner.hold();
    const asks = [0, 1, 2].map(() => fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: carol, options: { intensity: 'nightmare' }, attachments: { image: { filename: 'a.png', bytes: photo } } })));
    const { refused, text } = await refusedAmong(asks);
    expect(text).toBe('You already have 2 dreams in the queue; wait for one to finish.');
    for (const a of asks.filter((x) => x !== refused)) await pressCancel(a, carol);
    runner.release();
  });

  it('lets only the requester cancel, and cancelling frees the slot at once', async () => {
    await idle();
    runner.hold();
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: fake.users.alice, options: { intensity: 'nightmare' }, attachments: { image: { filename: 'a.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && /Dreaming/.test(JSON.stringify(r.json)), { fromIndex: 0, timeoutMs: 20_000 });

    const bobPress = await pressCancel(i, fake.users.bob);
    const denied = fake.interactionCallbacks(bobPress.id)[0];
    expect(denied.json).toMatchObject({ type: 4, data: { flags: 64 } });
    expect((denied.json as { data: { content: string } }).data.content).toMatch(/isn't your dream/);
    expect(bot.queue.snapshot().running).toBe(1);

    const alicePress = await pressCancel(i, fake.users.alice);
    expect(fake.interactionCallbacks(alicePress.id)[0].json).toMatchObject({ type: 6 }); // deferred update
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && /Cancelled/.test(JSON.stringify(r.json)), { fromIndex: 0 });
    await expect.poll(() => bot.queue.snapshot().running, { timeout: 1000 }).toBe(0);
    runner.release();
  });

  it('acknowledges 15 interactions arriving at once within 3 s while a dream runs', async () => {
    await idle();
    runner.hold(); // the dream runs until it is cancelled
    const first = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'nightmare' }, attachments: { image: { filename: 'a.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(first)(r) && /Dreaming/.test(JSON.stringify(r.json)), { fromIndex: 0, timeoutMs: 20_000 });
    const members = Array.from({ length: 15 }, (_, k) => member(`burst${k}`));
    const burst = members.map((user) => fake.dispatchInteraction(fake.chatInput({ name: 'dream', user, attachments: { image: { filename: 'b.png', bytes: photo } } })));
    await Promise.all(burst.map((i) => fake.waitForRequest(callbackOf(i), { fromIndex: 0 })));
    const latencies = burst.map((i) => fake.ackLatencyMs(i.id)!);
    expect(Math.max(...latencies)).toBeLessThan(3000);
    expect(bot.queue.snapshot().running).toBe(1); // the dream was still running throughout
    // Clean up: cancel the long dream and the two burst jobs that got into the queue.
    await pressCancel(first, fake.users.alice);
    const queued = burst.filter((i) => fake.requests.some((r) => isOriginalEdit(i)(r) && /dream:cancel:/.test(JSON.stringify(r.json))));
    for (const i of queued) await pressCancel(i, members[burst.indexOf(i)]);
    runner.release();
  });

  it('fits the result under the interaction\'s upload limit by stepping down to JPEG', async () => {
    await idle();
    const noisy = await sharp({ create: { width: 160, height: 120, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer();
    const payload = fake.chatInput({ name: 'dream', options: { intensity: 'low' }, attachments: { image: { filename: 'noise.png', bytes: noisy } } });
    const limit = 24 * 1024;
    const i = fake.dispatchInteraction({ ...payload, attachment_size_limit: limit } as typeof payload);
    const done = await finalEdit(i);
    const file = done.files.find((f) => f.filename.startsWith('dream-'))!;
    expect(file.bytes.length).toBeLessThanOrEqual(limit);
    expect(file.filename).toMatch(/\.jpg$/);
    const meta = await sharp(file.bytes).metadata();
    expect(meta.format).toBe('jpeg');
  });

  it('posts a result that outlives the 15-minute interaction token as a channel reply', async () => {
    await idle();
    // Its status goes through the token while the dream runs (held); the clock then moves past the token's
    // 15 minutes, and the result cannot.
    runner.hold();
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low' }, attachments: { image: { filename: 'late.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.status === 200 && /Dreaming/.test(JSON.stringify(r.json)), { fromIndex: 0, timeoutMs: 20_000 });
    const realNow = Date.now;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 15 * 60 * 1000);
    try {
      runner.release();
      const posted = await fake.waitForRequest((r) => r.method === 'POST' && r.path === `/channels/${fake.channelId}/messages` && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 30_000 });
      expect(JSON.stringify(posted.json)).toContain(`<@${fake.users.alice.id}>`);
      const statusMessage = fake.originalMessage(i.id);
      expect(statusMessage).toBeDefined();
      expect(posted.json).toMatchObject({ message_reference: { message_id: statusMessage!.id } });
      expect(fake.requests.filter(isOriginalEdit(i)).some((r) => r.files.length > 0 && r.files.some((f) => f.filename.startsWith('dream-')))).toBe(false);
    } finally {
      clock.mockRestore();
    }
  });

  it('registers /dream and the "Dream" message command with npm run deploy-commands', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx/esm', path.resolve('src/bin/deploy-commands.ts')], {
      env: { ...process.env, DISCORD_TOKEN: fake.token, DISCORD_CLIENT_ID: fake.applicationId, DISCORD_GUILD_ID: fake.guildId, DISCORD_API: fake.apiBase },
    });
    expect(stdout).toMatch(/Registered dream, explain, quota, settings, styles, zoom, Dream, Explain in guild/);
    const commands = fake.registeredCommands(fake.guildId);
    const dream = commands.find((c) => c.name === 'dream')!;
    expect(dream.options?.map((o) => [o.name, o.type, o.required ?? false])).toEqual([
      ['image', 11, true],
      ['intensity', 3, false],
      ['layers', 3, false],
      ['seed', 4, false],
      ['style', 3, false],
      ['target', 3, false],
      ['guide', 11, false],
      ['channel', 3, false],
      ['soft', 5, false],
      ['model', 3, false],
    ]);
    expect(commands.find((c) => c.name === 'styles')?.type).toBe(1);
    const intensity = dream.options?.find((o) => o.name === 'intensity') as { choices: { value: string }[] };
    expect(intensity.choices.map((c) => c.value)).toEqual(['low', 'medium', 'high', 'nightmare']);
    expect(commands.find((c) => c.name === 'Dream')?.type).toBe(3);
  });
});
