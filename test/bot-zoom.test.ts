import type { APIEmbed, APIMessage, APIUser } from 'discord.js';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord, member, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { callbackOf, isFollowUp, isOriginalEdit, text } from './helpers/requests.ts';

const embedOf = (r: RecordedRequest) => (r.json as { embeds: APIEmbed[] }).embeds[0];
const fieldsOf = (r: RecordedRequest) => Object.fromEntries(embedOf(r).fields!.map((f) => [f.name, f.value]));

describe('zoom animations and guided dreams in Discord (fake runner)', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let runner: FakeRunner;
  let photo: Buffer;
  let guidePhoto: Buffer;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(96, 72, 'png');
    guidePhoto = await makePhotoLike(90, 60, 'png');
    runner = new FakeRunner({ msPerMegapixel: 0, msPerFrame: 2 }); // 2 ms a step or frame: a job that must keep running is held
    bot = await startTestBot(fake, { DREAM_MAX_SIDE: '384', DREAM_CONCURRENCY: '1', MAX_QUEUE: '1', MAX_JOBS_PER_USER: '3', STATUS_EDIT_INTERVAL_MS: '50' }, runner);
  });
  // A test that needs a job to keep running holds the runner; never past the test.
  afterEach(() => runner.release());
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  async function idle(): Promise<void> {
    await expect.poll(() => bot.queue.snapshot().running + bot.queue.snapshot().waiting, { timeout: 30_000, interval: 20 }).toBe(0);
  }

  const animated = (i: { token: string }) => fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.endsWith('.gif')), { fromIndex: 0, timeoutMs: 30_000 });
  const dreamed = (i: { token: string }) => fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 30_000 });
  const refusalOf = async (i: { id: string; token: string }) => {
    // A refusal at once (a private reply), or after the deferral (a private follow-up).
    const r = await fake.waitForRequest((q) => (callbackOf(i)(q) && Boolean((q.json as { data?: { content?: string } }).data?.content)) || isFollowUp(i)(q), { fromIndex: 0 });
    const json = r.json as { content?: string; data?: { content: string } };
    return json.data?.content ?? json.content ?? '';
  };
  /** The job id on a status message's Cancel button, once it shows `pattern`. */
  async function jobIdOf(i: { token: string }, pattern: RegExp): Promise<string> {
    const status = await fake.waitForRequest((r) => isOriginalEdit(i)(r) && pattern.test(text(r)), { fromIndex: 0, timeoutMs: 20_000 });
    return /dream:cancel:(\w+)/.exec(text(status))![1];
  }

  it('/zoom posts a looping GIF with progress edits, a Cancel button and previews', async () => {
    runner.hold('end'); // the animation waits until its progress and previews have been seen
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'zoom', options: { frames: 12, zoom: 1.1, intensity: 'low', seed: 5 }, attachments: { image: { filename: 'cat.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename === 'preview.jpg'), { fromIndex: 0, timeoutMs: 20_000 });
    runner.release();
    const done = await animated(i);
    const gif = done.files.find((f) => f.filename === 'zoom-5.gif')!;
    const meta = await sharp(gif.bytes, { animated: true }).metadata();
    expect(meta.format).toBe('gif');
    expect(meta.pages).toBe(12);
    expect(meta.loop).toBe(0);
    expect([meta.width, meta.pageHeight]).toEqual([96, 72]);
    expect(done.files.some((f) => /^zoom-5-last\.(jpg|png)$/.test(f.filename))).toBe(true); // the last frame as a still
    expect(fieldsOf(done)).toMatchObject({ Intensity: 'low', Frames: '12', Seed: '5', Size: '96×72' });
    expect(fieldsOf(done).Zoom).toMatch(/^1\.1/);
    expect(embedOf(done).title).toBe('DeepDream zoom · low');
    expect(runner.zoomInputs.at(-1)!.params).toMatchObject({ frames: 12, zoom: 1.1, seed: 5, intensity: 'low' });
    const progress = fake.requests.filter((r) => isOriginalEdit(i)(r) && /Animating… frame \d+\/12/.test(text(r)));
    expect(progress.length).toBeGreaterThan(0);
    for (const e of progress) expect(text(e)).toMatch(/"custom_id":"dream:cancel:j\d+"/);
    expect(fake.requests.some((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename === 'preview.jpg'))).toBe(true);
  });

  it('the Animate button on a dream animates its result at the same intensity and seed', async () => {
    await idle();
    const d = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low', seed: 3 }, attachments: { image: { filename: 'cat.png', bytes: photo } } }));
    await dreamed(d);
    const result = fake.originalMessage(d.id) as APIMessage;
    expect(JSON.stringify(result.components)).toContain('dream:animate');
    const press = fake.dispatchInteraction(fake.button({ customId: 'dream:animate', message: result, user: fake.users.bob }));
    const done = await animated(press);
    expect(fieldsOf(done)).toMatchObject({ Intensity: 'low', Seed: '3', Frames: '36' });
    // It animates the posted dream (the fake runner inverts), not the original upload.
    expect(embedOf(done).url).toBe(result.attachments[0].url);
    expect(runner.zoomInputs.at(-1)!.params).toMatchObject({ intensity: 'low', seed: 3, frames: 36 });
  });

  it('/dream guide: hands the guide\'s pixels to the runner, names it in the recipe, and Reroll keeps it', async () => {
    await idle();
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low', seed: 11 }, attachments: { image: { filename: 'cat.png', bytes: photo }, guide: { filename: 'flowers.png', bytes: guidePhoto } } }));
    const done = await dreamed(i);
    const { image, params } = runner.inputs.at(-1)!;
    expect([image.width, image.height]).toEqual([96, 72]);
    expect(params.guide).toBeDefined();
    const raw = await sharp(guidePhoto).removeAlpha().raw().toBuffer();
    expect([params.guide!.image.width, params.guide!.image.height]).toEqual([90, 60]);
    expect(Buffer.from(params.guide!.image.data).equals(raw)).toBe(true);
    expect(params.guide!.layer).toBeTruthy();
    const fields = fieldsOf(done);
    expect(fields.Guide).toMatch(/flowers\.png/);
    expect(embedOf(done).thumbnail?.url).toMatch(/flowers\.png/);

    const message = fake.originalMessage(i.id) as APIMessage;
    const reroll = fake.dispatchInteraction(fake.button({ customId: 'dream:reroll', message, user: fake.users.bob }));
    const rerolled = await dreamed(reroll);
    expect(fieldsOf(rerolled).Guide).toMatch(/flowers\.png/);
    expect(fieldsOf(rerolled).Seed).not.toBe('11');
    expect(runner.inputs.at(-1)!.params.guide?.image.width).toBe(90);
  });

  it('a reply-mention carrying an image to an image: the replied-to picture is dreamed, the attached one guides', async () => {
    await idle();
    const image = fake.dispatchMessage(fake.message({ author: fake.users.bob, attachments: [{ filename: 'lake.png', bytes: photo }] }));
    const from = fake.requests.length;
    fake.dispatchMessage(fake.message({ author: fake.users.alice, content: 'low', mentionsBot: true, referencedMessage: image, attachments: [{ filename: 'shells.png', bytes: guidePhoto }] }));
    const final = await fake.waitForRequest((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${fake.channelId}/messages/`) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: from, timeoutMs: 30_000 });
    const { image: dreamedImage, params } = runner.inputs.at(-1)!;
    expect([dreamedImage.width, dreamedImage.height]).toEqual([96, 72]);
    expect([params.guide?.image.width, params.guide?.image.height]).toEqual([90, 60]);
    expect(embedOf(final).url).toMatch(/lake\.png/);
    expect(fieldsOf(final).Guide).toMatch(/shells\.png/);
  });

  it('refuses like /dream: not an image, a foreign host, too large (for the image and the guide), a full queue', async () => {
    await idle();
    const zoomOf = (attachment: Parameters<FakeDiscord['attachment']>[0], user?: APIUser) => fake.dispatchInteraction(fake.chatInput({ name: 'zoom', user, attachments: { image: attachment } }));
    expect(await refusalOf(zoomOf({ filename: 'x.png', bytes: Buffer.from('text, not pixels'), contentType: 'image/png' }))).toMatch(/not an image/);
    expect(await refusalOf(zoomOf({ filename: 'x.png', url: 'http://127.0.0.1:9/x.png', contentType: 'image/png', size: 10 }))).toMatch(/only dream images uploaded to Discord/);
    expect(await refusalOf(zoomOf({ filename: 'x.png', bytes: photo, size: 900 * 2 ** 20 }))).toMatch(/the most I take is/);

    const guided = (guide: Parameters<FakeDiscord['attachment']>[0]) => fake.dispatchInteraction(fake.chatInput({ name: 'dream', attachments: { image: { filename: 'cat.png', bytes: photo }, guide } }));
    expect(await refusalOf(guided({ filename: 'g.png', bytes: Buffer.from('text, not pixels'), contentType: 'image/png' }))).toMatch(/not an image/);
    expect(await refusalOf(guided({ filename: 'g.png', url: 'http://127.0.0.1:9/g.png', contentType: 'image/png', size: 10 }))).toMatch(/^The guide: I only dream images uploaded to Discord/);
    expect(await refusalOf(guided({ filename: 'g.png', bytes: guidePhoto, size: 900 * 2 ** 20 }))).toMatch(/^The guide: .*the most I take is/);
    expect(await refusalOf(guided({ filename: 'g.txt', bytes: Buffer.from('hello'), contentType: 'text/plain' }))).toMatch(/^The guide: That file is not an image/);

    // MAX_QUEUE=1: a dream runs (held until the refusal is seen), one zoom waits, the next is refused.
    runner.hold();
    const long = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member('a'), options: { intensity: 'nightmare' }, attachments: { image: { filename: 'a.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(long)(r) && /Dreaming/.test(text(r)), { fromIndex: 0 });
    const waiting = zoomOf({ filename: 'b.png', bytes: photo }, member('b'));
    await fake.waitForRequest((r) => isOriginalEdit(waiting)(r) && /In the queue/.test(text(r)), { fromIndex: 0 });
    expect(await refusalOf(zoomOf({ filename: 'c.png', bytes: photo }, member('c')))).toMatch(/^The queue is full/);
    runner.release();
    await animated(waiting);
  });

  it('cancelling an animation mid-way frees the slot at once: the next job starts', async () => {
    await idle();
    runner.hold(); // the zoom never ends by itself: only the cancel can free its slot
    const zoom = fake.dispatchInteraction(fake.chatInput({ name: 'zoom', options: { frames: 60 }, attachments: { image: { filename: 'cat.png', bytes: photo } } }));
    const jobId = await jobIdOf(zoom, /Animating… frame/);
    const next = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: fake.users.bob, options: { intensity: 'low' }, attachments: { image: { filename: 'dog.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(next)(r) && /In the queue/.test(text(r)), { fromIndex: 0 });
    const pressed = Date.now();
    fake.dispatchInteraction(fake.button({ customId: `dream:cancel:${jobId}`, message: fake.originalMessage(zoom.id) as APIMessage }));
    await fake.waitForRequest((r) => isOriginalEdit(zoom)(r) && /Cancelled/.test(text(r)), { fromIndex: 0 });
    await fake.waitForRequest((r) => isOriginalEdit(next)(r) && /Dreaming/.test(text(r)), { fromIndex: 0, timeoutMs: 5000 });
    expect(Date.now() - pressed).toBeLessThan(3000);
    expect(fake.requests.some((r) => isOriginalEdit(zoom)(r) && r.files.some((f) => f.filename.endsWith('.gif')))).toBe(false);
    runner.release();
    await dreamed(next);
  });

  it('a zoom counts as several jobs toward MAX_JOBS_PER_USER', async () => {
    await idle();
    runner.hold();
    // 36 frames cost 3: with MAX_JOBS_PER_USER=3 it is all a member may have in the queue.
    const zoom = fake.dispatchInteraction(fake.chatInput({ name: 'zoom', attachments: { image: { filename: 'cat.png', bytes: photo } } }));
    const jobId = await jobIdOf(zoom, /Animating… frame/);
    const more = fake.dispatchInteraction(fake.chatInput({ name: 'dream', attachments: { image: { filename: 'dog.png', bytes: photo } } }));
    expect(await refusalOf(more)).toMatch(/You already have 3 dreams in the queue/);
    fake.dispatchInteraction(fake.button({ customId: `dream:cancel:${jobId}`, message: fake.originalMessage(zoom.id) as APIMessage }));
    await fake.waitForRequest((r) => isOriginalEdit(zoom)(r) && /Cancelled/.test(text(r)), { fromIndex: 0 });
  });
});
