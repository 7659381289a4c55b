import { InteractionType, type APIEmbed, type APIMessage } from 'discord.js';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord, member, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { callbackOf, isFollowUp, isOriginalEdit } from './helpers/requests.ts';

describe('Explain in Discord (fake runner)', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let runner: FakeRunner;
  let photo: Buffer;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(160, 120, 'png');
    runner = new FakeRunner({ msPerMegapixel: 0, msPerFrame: 2 }); // 2 ms a step or frame: a job that must keep running is held
    bot = await startTestBot(fake, { DREAM_MAX_SIDE: '384', MAX_QUEUE: '1', MAX_JOBS_PER_USER: '2', STATUS_EDIT_INTERVAL_MS: '50' }, runner);
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

  /** The final edit that carries the Explain picture. */
  const explained = (i: { token: string }) => fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.startsWith('explain')), { fromIndex: 0, timeoutMs: 20_000 });
  const embedOf = (r: RecordedRequest) => (r.json as { embeds: APIEmbed[] }).embeds[0];

  it('/explain posts the picture beside its heatmap and the top 5 labels', async () => {
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'explain', attachments: { image: { filename: 'dog.png', bytes: photo } } }));
    const done = await explained(i);
    expect(fake.interactionCallbacks(i.id)[0].json).toMatchObject({ type: 5 });
    const embed = embedOf(done);
    expect(embed.title).toBe('Explain · Border terrier');
    expect(embed.fields!.find((f) => f.name === 'Top 5')!.value).toBe('1. Border terrier 42%\n2. seashore 21%\n3. lakeside 12%\n4. valley 8.0%\n5. alp 5.0%');
    const file = done.files.find((f) => f.filename.startsWith('explain'))!;
    const meta = await sharp(file.bytes).metadata();
    // Two 120 px tall panels (picture and heatmap) side by side, captions and legend below.
    expect(meta.width).toBeGreaterThan(2 * 160);
    expect(meta.height).toBeGreaterThan(120);
    expect(runner.explainInputs.at(-1)).toMatchObject({ images: [{ width: 160, height: 120 }], target: undefined, top: 5 });
  });

  it('/explain target: paints the named label, and refuses an unknown one privately with close matches', async () => {
    await idle();
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'explain', options: { target: 'tabby' }, attachments: { image: { filename: 'cat.png', bytes: photo } } }));
    const done = await explained(i);
    expect(embedOf(done).title).toBe('Explain · tabby');
    expect(runner.explainInputs.at(-1)?.target).toBe('tabby');

    const bad = fake.dispatchInteraction(fake.chatInput({ name: 'explain', options: { target: 'tabbby' }, attachments: { image: { filename: 'cat.png', bytes: photo } } }));
    const refusal = await fake.waitForRequest(isFollowUp(bad), { fromIndex: 0 });
    expect(refusal.json).toMatchObject({ flags: 64 });
    expect((refusal.json as { content: string }).content).toMatch(/tabbby.*tabby/s);
  });

  it('suggests ImageNet labels while the target is typed', async () => {
    const base = fake.chatInput({ name: 'explain' });
    const i = fake.dispatchInteraction({ ...base, type: InteractionType.ApplicationCommandAutocomplete, data: { ...base.data, options: [{ name: 'target', type: 3, value: 'terri', focused: true }] } } as never);
    const answer = await fake.waitForRequest(callbackOf(i), { fromIndex: 0 });
    const choices = (answer.json as { data: { choices: { name: string }[] } }).data.choices.map((c) => c.name);
    expect(choices.length).toBeGreaterThan(5);
    expect(choices.every((c) => /terri/i.test(c))).toBe(true);
    expect(choices).toContain('Border terrier');
  });

  it('"Explain" in the Apps menu explains the message\'s image, and says so when there is none', async () => {
    await idle();
    const target = fake.dispatchMessage(fake.message({ author: fake.users.bob, content: 'look', attachments: [{ filename: 'lake.png', bytes: photo }] }));
    const i = fake.dispatchInteraction(fake.messageContextMenu({ name: 'Explain', target }));
    expect(embedOf(await explained(i)).title).toMatch(/^Explain · /);
    const empty = fake.dispatchMessage(fake.message({ author: fake.users.bob, content: 'no picture here' }));
    const j = fake.dispatchInteraction(fake.messageContextMenu({ name: 'Explain', target: empty }));
    const answer = await fake.waitForRequest(callbackOf(j), { fromIndex: 0 });
    expect(answer.json).toMatchObject({ type: 4, data: { flags: 64, content: 'That message has no image I can explain.' } });
  });

  it('the Explain button on a dream shows the original and the dream side by side, before and after', async () => {
    await idle();
    const d = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low', seed: 3 }, attachments: { image: { filename: 'cat.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(d)(r) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 20_000 });
    const result = fake.originalMessage(d.id) as APIMessage;
    expect(JSON.stringify(result.components)).toContain('dream:explain');
    const press = fake.dispatchInteraction(fake.button({ customId: 'dream:explain', message: result, user: fake.users.bob }));
    const done = await explained(press);
    const embed = embedOf(done);
    expect(embed.fields!.map((f) => f.name)).toEqual(['Before the dream', 'After the dream', 'Model']);
    const input = runner.explainInputs.at(-1)!;
    expect(input.images).toHaveLength(2);
    // The original upload and the posted dream (the fake runner inverts): two different pictures.
    expect(Buffer.from(input.images[0].data).equals(Buffer.from(input.images[1].data))).toBe(false);
    expect(embed.url).toBe(result.embeds[0].url);
  });

  it('refuses like /dream: not an image, a foreign host, too large, a full queue', async () => {
    await idle();
    const notImage = fake.dispatchInteraction(fake.chatInput({ name: 'explain', attachments: { image: { filename: 'x.png', bytes: Buffer.from('text, not pixels'), contentType: 'image/png' } } }));
    expect(((await fake.waitForRequest(isFollowUp(notImage), { fromIndex: 0 })).json as { content: string }).content).toMatch(/not an image/);
    const foreign = fake.dispatchInteraction(fake.chatInput({ name: 'explain', attachments: { image: { filename: 'x.png', url: 'http://127.0.0.1:9/x.png', contentType: 'image/png', size: 10 } } }));
    expect(((await fake.waitForRequest(callbackOf(foreign), { fromIndex: 0 })).json as { data: { content: string } }).data.content).toMatch(/only dream images uploaded to Discord/);
    const huge = fake.dispatchInteraction(fake.chatInput({ name: 'explain', attachments: { image: { filename: 'x.png', bytes: photo, size: 900 * 2 ** 20 } } }));
    expect(((await fake.waitForRequest(callbackOf(huge), { fromIndex: 0 })).json as { data: { content: string } }).data.content).toMatch(/the most I take is/);
    // MAX_QUEUE=1: a dream runs (held until the refusal is seen), one Explain waits, the next is refused.
    runner.hold();
    const long = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member('a'), options: { intensity: 'nightmare' }, attachments: { image: { filename: 'a.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(long)(r) && /Dreaming/.test(JSON.stringify(r.json)), { fromIndex: 0 });
    const waiting = fake.dispatchInteraction(fake.chatInput({ name: 'explain', user: member('b'), attachments: { image: { filename: 'b.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(waiting)(r) && /In the queue/.test(JSON.stringify(r.json)), { fromIndex: 0 });
    const full = fake.dispatchInteraction(fake.chatInput({ name: 'explain', user: member('c'), attachments: { image: { filename: 'c.png', bytes: photo } } }));
    expect(((await fake.waitForRequest(isFollowUp(full), { fromIndex: 0 })).json as { content: string }).content).toMatch(/^The queue is full/);
    runner.release();
    await explained(waiting);
  });
});
