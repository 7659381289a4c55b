import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InteractionType, type APIEmbed } from 'discord.js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startBot } from '../src/bin/compose.ts';
import { fakeBotConfig } from './helpers/bot-config.ts';
import { trainStyle } from '../src/engine/style/index.ts';
import { makePatternDataset } from './helpers/dataset.ts';
import { FakeDiscord } from './helpers/fake-discord.ts';
import { makePhotoLike } from './helpers/images.ts';
import { callbackOf, isFollowUp } from './helpers/requests.ts';

describe('custom styles in Discord', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dream-styles-'));
    const styles = path.join(dir, 'styles');
    // A style trained on a handful of tiny pictures for one epoch: these tests are about a style in Discord, not
    // about its quality (train.test.ts trains for real). It trains while the bot starts: styles are read per request.
    const trained = makePatternDataset(path.join(dir, 'data'), { perClass: 3 }).then((data) =>
      trainStyle({ data: data.dir, name: 'patterns', epochs: 1, inputSize: 96, seed: 3, modelsDir: styles }),
    );
    trained.catch(() => {}); // awaited below, after the bot has started
    fake = await FakeDiscord.start();
    // The bot and its worker threads find styles there (real engine: these tests dream and explain for real). Inputs
    // are not screened (NSFW_POLICY=off): screening is bot-safety's and screen.test's, and costs a second model.
    const config = fakeBotConfig(fake, {
      DREAM_MAX_SIDE: '256',
      DREAM_STYLES_DIR: styles,
      LOG_LEVEL: 'silent',
      NSFW_POLICY: 'off',
    });
    bot = await startBot(config, pino({ level: 'silent' }));
    await trained;
  });

  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('/styles lists the installed styles with their classes and validation accuracy', async () => {
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'styles' }));
    const reply = await fake.waitForRequest(callbackOf(i), { fromIndex: 0 });
    const embed = (reply.json as { data: { embeds: APIEmbed[] } }).data.embeds[0];
    expect(embed.fields?.[0].name).toBe('patterns');
    expect(embed.fields?.[0].value).toMatch(/classes: dots, stripes\nvalidation accuracy: \d+%/);
  });

  it('suggests styles, and the chosen style\'s classes, while typing', async () => {
    const base = fake.chatInput({ name: 'dream', options: { style: 'pat' } });
    const styleAsk = fake.dispatchInteraction({ ...base, type: InteractionType.ApplicationCommandAutocomplete, data: { ...base.data, options: [{ name: 'style', type: 3, value: 'pat', focused: true }] } } as never);
    const styleAnswer = await fake.waitForRequest(callbackOf(styleAsk), { fromIndex: 0 });
    expect(styleAnswer.json).toEqual({ type: 8, data: { choices: [{ name: 'patterns', value: 'patterns' }] } });

    const base2 = fake.chatInput({ name: 'dream' });
    const targetAsk = fake.dispatchInteraction({
      ...base2,
      type: InteractionType.ApplicationCommandAutocomplete,
      data: { ...base2.data, options: [{ name: 'style', type: 3, value: 'patterns' }, { name: 'target', type: 3, value: '', focused: true }] },
    } as never);
    const targetAnswer = await fake.waitForRequest(callbackOf(targetAsk), { fromIndex: 0 });
    expect((targetAnswer.json as { data: { choices: { value: string }[] } }).data.choices.map((c) => c.value)).toEqual(['dots', 'stripes']);
  });

  it('/dream with a style and target posts a dream whose recipe names them', async () => {
    const photo = await makePhotoLike(96, 72, 'png');
    const i = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { intensity: 'low', style: 'patterns', target: 'stripes' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    const done = await fake.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(i.token) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 60_000 });
    const embed = (done.json as { embeds: APIEmbed[] }).embeds[0];
    expect(embed.title).toBe('DeepDream · low · patterns: stripes');
    expect(Object.fromEntries(embed.fields!.map((f) => [f.name, f.value]))).toMatchObject({ Style: 'patterns', Grows: 'stripes' });
  });

  it('/explain with the real engine: ImageNet labels by default, and a style\'s classes with its heat', async () => {
    const photo = await makePhotoLike(160, 120, 'png');
    const posted = (i: { token: string }) =>
      fake.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(i.token) && r.files.some((f) => f.filename.startsWith('explain')), { fromIndex: 0, timeoutMs: 60_000 });
    const plain = fake.dispatchInteraction(fake.chatInput({ name: 'explain', attachments: { image: { filename: 'p.png', bytes: photo } } }));
    const plainEmbed = ((await posted(plain)).json as { embeds: APIEmbed[] }).embeds[0];
    const top5 = plainEmbed.fields!.find((f) => f.name === 'Top 5')!.value.split('\n');
    expect(top5).toHaveLength(5);
    for (const line of top5) expect(line).toMatch(/^\d\. .+ \d+(\.\d)?%$/);
    const styled = fake.dispatchInteraction(fake.chatInput({ name: 'explain', options: { style: 'patterns', target: 'stripes' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    const embed = ((await posted(styled)).json as { embeds: APIEmbed[] }).embeds[0];
    expect(embed.title).toBe('Explain · stripes');
    expect(embed.fields!.find((f) => f.name === 'Top 5')!.value).toMatch(/^1\. (dots|stripes) \d+(\.\d)?%\n2\. (dots|stripes) \d+(\.\d)?%$/);
  });

  it('refuses an unknown style or class, naming the valid ones', async () => {
    const photo = await makePhotoLike(100, 80, 'png');
    const bad = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { style: 'mascot' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    expect(((await fake.waitForRequest(isFollowUp(bad), { fromIndex: 0 })).json as { content: string }).content).toBe('There is no style "mascot". Installed styles: patterns.');
    const badClass = fake.dispatchInteraction(fake.chatInput({ name: 'dream', options: { style: 'patterns', target: 'cats' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    expect(((await fake.waitForRequest(isFollowUp(badClass), { fromIndex: 0 })).json as { content: string }).content).toMatch(/cats.*dots, stripes/);
  });
});
