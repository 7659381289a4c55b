import type { APIEmbed, APIMessage } from 'discord.js';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { makeClip } from './helpers/animations.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { callbackOf, isFollowUp, isOriginalEdit, text } from './helpers/requests.ts';

const embedOf = (r: RecordedRequest) => (r.json as { embeds: APIEmbed[] }).embeds[0];
const fieldsOf = (r: RecordedRequest) => Object.fromEntries(embedOf(r).fields!.map((f) => [f.name, f.value]));

describe('animated GIFs and WebPs in Discord (fake runner)', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let runner: FakeRunner;
  let gif: Buffer;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    gif = await makeClip({ frames: 6, width: 64, height: 48, delays: [100, 200, 100, 200, 100, 300], loop: 2 });
    runner = new FakeRunner({ msPerMegapixel: 0, msPerFrame: 2 });
    bot = await startTestBot(fake, { DREAM_MAX_SIDE: '384', DREAM_CONCURRENCY: '1', MAX_JOBS_PER_USER: '2', MAX_ANIMATION_FRAMES: '12', STATUS_EDIT_INTERVAL_MS: '50' }, runner);
  });
  afterEach(() => runner.release());
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  const idle = () => expect.poll(() => bot.queue.snapshot().running + bot.queue.snapshot().waiting, { timeout: 30_000, interval: 20 }).toBe(0);
  const posted = (i: { token: string }, ext: string) =>
    fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.startsWith('dream-') && f.filename.endsWith(ext)), { fromIndex: 0, timeoutMs: 30_000 });

  it('/dream with a GIF posts a dreamed GIF: every frame, its delays and loop, progress by frame with a preview', async () => {
    runner.hold('end'); // held until its progress has been seen
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low', seed: 9 }, attachments: { image: { filename: 'clip.gif', bytes: gif } } }));
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename === 'preview.jpg'), { fromIndex: 0, timeoutMs: 20_000 });
    runner.release();
    const done = await posted(i, '.gif');
    const out = done.files.find((f) => f.filename === 'dream-9.gif')!;
    const meta = await sharp(out.bytes, { animated: true }).metadata();
    expect([meta.format, meta.pages, meta.loop, meta.width, meta.pageHeight]).toEqual(['gif', 6, 2, 64, 48]);
    expect(meta.delay).toEqual([100, 200, 100, 200, 100, 300]);
    // Every frame went through the runner (the fake inverts it), in order.
    const input = runner.animationInputs.at(-1)!;
    expect(input.frames).toHaveLength(6);
    expect(input.params).toMatchObject({ intensity: 'low', seed: 9 });
    const first = await sharp(out.bytes, { page: 0 }).removeAlpha().raw().toBuffer();
    const expected = input.frames[0].data.map((v) => 255 - v);
    let diff = 0;
    for (let k = 0; k < first.length; k++) diff += Math.abs(first[k] - expected[k]);
    expect(diff / first.length).toBeLessThan(12); // the GIF palette's rounding only
    expect(embedOf(done).title).toBe('DeepDream animation · low');
    expect(fieldsOf(done)).toMatchObject({ Frames: '6', Seed: '9', Size: '64×48' });
    expect(fake.requests.some((r) => isOriginalEdit(i)(r) && /Animating… frame \d\/6/.test(text(r)))).toBe(true);
    expect(JSON.stringify((fake.originalMessage(i.id) as APIMessage).components)).toContain('dream:reroll');
  });

  /** A dreamed copy of `gif`: its frames, delays and loop, each frame the runner's (inverted) dream of the input. */
  async function expectDreamedGif(bytes: Buffer, animationsBefore: number) {
    const meta = await sharp(bytes, { animated: true }).metadata();
    expect([meta.format, meta.pages, meta.loop, meta.width, meta.pageHeight]).toEqual(['gif', 6, 2, 64, 48]);
    expect(meta.delay).toEqual([100, 200, 100, 200, 100, 300]);
    expect(runner.animationInputs).toHaveLength(animationsBefore + 1); // dreamed as an animation, not its first frame
    const input = runner.animationInputs.at(-1)!;
    expect(input.frames).toHaveLength(6);
    const last = await sharp(bytes, { page: 5 }).removeAlpha().raw().toBuffer();
    let diff = 0;
    for (let k = 0; k < last.length; k++) diff += Math.abs(last[k] - (255 - input.frames[5].data[k]));
    expect(diff / last.length).toBeLessThan(12); // the GIF palette's rounding only
  }

  it('"Dream" in the Apps menu on a message with a GIF posts a dreamed GIF, as /dream does', async () => {
    await idle();
    const before = runner.animationInputs.length;
    const target = fake.dispatchMessage(fake.message({ author: fake.users.bob, attachments: [{ filename: 'clip.gif', bytes: gif }] }));
    const i = fake.dispatchInteraction(fake.messageContextMenu({ name: 'Dream', target }));
    const done = await posted(i, '.gif');
    await expectDreamedGif(done.files.find((f) => f.filename.endsWith('.gif'))!.bytes, before);
    expect(fieldsOf(done)).toMatchObject({ Frames: '6', Size: '64×48' });
  });

  it('a reply-mention on a GIF posts a dreamed GIF as a reply, as /dream does', async () => {
    await idle();
    const before = runner.animationInputs.length;
    const image = fake.dispatchMessage(fake.message({ author: fake.users.bob, attachments: [{ filename: 'clip.gif', bytes: gif }] }));
    const from = fake.requests.length;
    const ask = fake.dispatchMessage(fake.message({ author: fake.users.alice, content: 'dream this', mentionsBot: true, referencedMessage: image }));
    const reply = await fake.waitForRequest((r) => r.method === 'POST' && r.path === `/channels/${fake.channelId}/messages`, { fromIndex: from });
    expect(reply.json).toMatchObject({ message_reference: { message_id: ask.id } });
    const done = await fake.waitForRequest(
      (r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${fake.channelId}/messages/`) && r.files.some((f) => f.filename.startsWith('dream-') && f.filename.endsWith('.gif')),
      { fromIndex: from, timeoutMs: 30_000 },
    );
    await expectDreamedGif(done.files.find((f) => f.filename.endsWith('.gif'))!.bytes, before);
    expect(fieldsOf(done)).toMatchObject({ Frames: '6', Size: '64×48' });
  });

  it('an animated WebP comes back as an animated WebP; a long one is sampled and the member told', async () => {
    await idle();
    const webp = await makeClip({ frames: 30, width: 40, height: 40, format: 'webp', delays: Array<number>(30).fill(50) });
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { seed: 4 }, attachments: { image: { filename: 'clip.webp', bytes: webp } } }));
    const done = await posted(i, '.webp');
    const meta = await sharp(done.files.find((f) => f.filename === 'dream-4.webp')!.bytes, { animated: true }).metadata();
    expect([meta.format, meta.pages]).toEqual(['webp', 12]); // MAX_ANIMATION_FRAMES
    expect(meta.delay!.reduce((a, b) => a + b, 0)).toBe(1500); // it lasts as long
    expect(fieldsOf(done).Frames).toBe('12 of 30');
    expect(embedOf(done).description).toMatch(/12 of its 30 frames were dreamed/);
  });

  it('an animation counts ceil(frames ÷ 8) toward MAX_JOBS_PER_USER; Reroll and Dream deeper dream it again', async () => {
    await idle();
    runner.hold();
    const twelve = await makeClip({ frames: 12, width: 32, height: 32 });
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { seed: 1 }, attachments: { image: { filename: 'long.gif', bytes: twelve } } }));
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && /Animating… frame/.test(text(r)), { fromIndex: 0, timeoutMs: 20_000 });
    const more = fake.dispatchInteraction(fake.chatInput({ name: 'dream', attachments: { image: { filename: 'more.gif', bytes: gif } } }));
    const refusal = await fake.waitForRequest((q) => (callbackOf(more)(q) && Boolean((q.json as { data?: { content?: string } }).data?.content)) || isFollowUp(more)(q), { fromIndex: 0 });
    expect(JSON.stringify(refusal.json)).toMatch(/You already have 2 dreams in the queue/);
    runner.release();
    await posted(i, '.gif');
    await idle();
    const reroll = fake.dispatchInteraction(fake.button({ customId: 'dream:reroll', message: fake.originalMessage(i.id) as APIMessage, user: fake.users.bob }));
    const again = await posted(reroll, '.gif');
    expect(fieldsOf(again).Frames).toBe('12');
    expect(fieldsOf(again).Seed).not.toBe('1');
    // Dream deeper dreams the posted animation: its frames are the first dream's (the fake runner inverted them).
    await idle();
    const firstInput = runner.animationInputs.at(-2)!.frames[0];
    const deeper = fake.dispatchInteraction(fake.button({ customId: 'dream:deeper', message: fake.originalMessage(i.id) as APIMessage, user: fake.users.bob }));
    const deeperDone = await posted(deeper, '.gif');
    expect(fieldsOf(deeperDone)).toMatchObject({ Frames: '12', Seed: '1' });
    const deeperInput = runner.animationInputs.at(-1)!.frames[0];
    let diff = 0;
    for (let k = 0; k < deeperInput.data.length; k++) diff += Math.abs(deeperInput.data[k] - (255 - firstInput.data[k]));
    expect(diff / deeperInput.data.length).toBeLessThan(12);
  });

  it('Explain on an animation explains its first frame and says so', async () => {
    await idle();
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'explain', attachments: { image: { filename: 'clip.gif', bytes: gif } } }));
    const done = await fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.startsWith('explain')), { fromIndex: 0, timeoutMs: 20_000 });
    expect(embedOf(done).description).toMatch(/This is an animation: Explain shows its first frame\./);
  });
});
