import { InteractionType, Locale, type APIApplicationCommandInteractionDataOption, type APIEmbed, type APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { callbackOf, isFollowUp, isOriginalEdit } from './helpers/requests.ts';

// Growing anything from Discord (issue 19): /dream target, channel, soft and model on the fake runner.
describe('/dream grows anything (fake Discord, fake runner)', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let runner: FakeRunner;
  let photo: Buffer;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(96, 64, 'png');
    runner = new FakeRunner();
    bot = await startTestBot(fake, { DREAM_MAX_SIDE: '128', DREAM_CONCURRENCY: '1' }, runner);
  });

  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  const dream = (options: Record<string, string | number | boolean>, locale?: Locale) => {
    const i = fake.chatInput({ name: 'dream', options: { intensity: 'low', seed: 5, ...options }, attachments: { image: { filename: 'p.png', bytes: photo } } });
    return fake.dispatchInteraction(locale ? { ...i, locale } : i);
  };
  const result = (i: { token: string }) => fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 30_000 });
  const embedOf = (r: RecordedRequest) => (r.json as { embeds: APIEmbed[] }).embeds[0];
  const fieldsOf = (r: RecordedRequest) => Object.fromEntries(embedOf(r).fields!.map((f) => [f.name, f.value]));
  const refusal = async (i: { token: string }) => ((await fake.waitForRequest(isFollowUp(i), { fromIndex: 0 })).json as { content: string; flags: number });

  /** Asks for suggestions while typing `value` into `focused`, the other options set as given. */
  async function suggest(focused: string, value: string, others: APIApplicationCommandInteractionDataOption[] = [], locale?: Locale): Promise<{ name: string; value: string }[]> {
    const base = fake.chatInput({ name: 'dream' });
    const ask = fake.dispatchInteraction({
      ...base,
      ...(locale ? { locale } : {}),
      type: InteractionType.ApplicationCommandAutocomplete,
      data: { ...base.data, options: [...others, { name: focused, type: 3, value, focused: true }] },
    } as never);
    return ((await fake.waitForRequest(callbackOf(ask), { fromIndex: 0 })).json as { data: { choices: { name: string; value: string }[] } }).data.choices;
  }

  it('target: suggests the 1000 ImageNet labels in the member\'s language, the value being the label', async () => {
    expect(await suggest('target', 'goldf')).toEqual(expect.arrayContaining([{ name: 'goldfish', value: 'goldfish' }, { name: 'goldfinch', value: 'goldfinch' }]));
    const ja = await suggest('target', '金魚', [], Locale.Japanese);
    expect(ja[0]).toEqual({ name: '金魚（goldfish）', value: 'goldfish' });
  });

  it('channel: suggests a dozen chosen channels with what they grow, in English and Japanese, and echoes one typed', async () => {
    const en = await suggest('channel', '');
    expect(en).toHaveLength(12);
    expect(en).toContainEqual({ name: 'mixed4:97 · a glowing web of stars', value: 'mixed4:97' });
    expect(await suggest('channel', 'mixed4:97', [], Locale.Japanese)).toEqual([{ name: 'mixed4:97 · 光る星の網', value: 'mixed4:97' }]);
    expect((await suggest('channel', 'mixed5:7'))[0]).toEqual({ name: 'mixed5:7', value: 'mixed5:7' });
  });

  it('model: suggests the installed dream models with localised titles (no styles, no screener)', async () => {
    const en = await suggest('model', '');
    expect(en.map((c) => c.value)).toEqual(['darknet_tiny', 'inception_v3']);
    const ja = await suggest('model', '', [], Locale.Japanese);
    expect(ja.find((c) => c.value === 'inception_v3')?.name).toMatch(/目、毛並み/);
  });

  it('target, channel, soft and model reach the engine, the recipe shows them, and Reroll repeats them', async () => {
    const before = runner.inputs.length;
    const i = dream({ target: '金魚', channel: 'mixed4:97', layers: 'classic', soft: true });
    const done = await result(i);
    const params = runner.inputs[before].params;
    expect(params).toMatchObject({ target: 'goldfish', layers: ['mixed3', 'mixed5', 'mixed4:97'], soft: true });
    expect(embedOf(done).title).toBe('DeepDream · low · ImageNet: goldfish');
    expect(fieldsOf(done)).toMatchObject({ Model: 'inception_v3', Layers: 'mixed3, mixed5, mixed4:97', Grows: 'goldfish', Soft: 'on' });

    const message = fake.originalMessage(i.id) as APIMessage;
    const reroll = fake.dispatchInteraction(fake.button({ customId: 'dream:reroll', message, user: fake.users.bob }));
    const rerolled = await result(reroll);
    expect(fieldsOf(rerolled)).toMatchObject({ Layers: 'mixed3, mixed5, mixed4:97', Grows: 'goldfish', Soft: 'on', 'Step size': fieldsOf(done)['Step size'] });
    expect(fieldsOf(rerolled).Seed).not.toBe('5');
    expect(runner.inputs[runner.inputs.length - 1].params).toMatchObject({ target: 'goldfish', soft: true, layers: ['mixed3', 'mixed5', 'mixed4:97'] });
  });

  it('a class alone: no layers, soft by default, on the model chosen; the Japanese recipe names the class in Japanese', async () => {
    const before = runner.inputs.length;
    const i = dream({ target: 'goldfish', model: 'darknet_tiny' }, Locale.Japanese);
    const done = await result(i);
    expect(runner.inputs[before].params).toMatchObject({ target: 'goldfish', layers: [], soft: true, model: 'darknet_tiny' });
    expect(embedOf(done).title).toBe('DeepDream・弱・ImageNet のクラス：金魚');
    expect(fieldsOf(done)).toMatchObject({ モデル: 'darknet_tiny', レイヤー: '—', ソフト: 'on' });

    const message = fake.originalMessage(i.id) as APIMessage;
    await result(fake.dispatchInteraction(fake.button({ customId: 'dream:deeper', message })));
    expect(runner.inputs[runner.inputs.length - 1].params).toMatchObject({ target: 'goldfish', layers: [], soft: true, model: 'darknet_tiny', seed: 5 });
  });

  it('/zoom takes target, channel and soft, and Animate on a dream grows what the dream grew', async () => {
    const before = runner.zoomInputs.length;
    const zoom = fake.dispatchInteraction(
      fake.chatInput({ name: 'zoom', options: { frames: 3, target: 'bubble', channel: 'mixed4:97', soft: true, seed: 9 }, attachments: { image: { filename: 'p.png', bytes: photo } } }),
    );
    const gif = await fake.waitForRequest((r) => isOriginalEdit(zoom)(r) && r.files.some((f) => f.filename.endsWith('.gif')), { fromIndex: 0, timeoutMs: 30_000 });
    expect(runner.zoomInputs[before].params).toMatchObject({ target: 'bubble', layers: ['mixed4:97'], soft: true, frames: 3 });
    expect(Object.fromEntries(embedOf(gif).fields!.map((f) => [f.name, f.value]))).toMatchObject({ Grows: 'bubble', Layers: 'mixed4:97', Soft: 'on' });

    const i = dream({ target: 'goldfish', channel: 'mixed4:300' });
    await result(i);
    const animate = fake.dispatchInteraction(fake.button({ customId: 'dream:animate', message: fake.originalMessage(i.id) as APIMessage }));
    await fake.waitForRequest((r) => isOriginalEdit(animate)(r) && r.files.some((f) => f.filename.endsWith('.gif')), { fromIndex: 0, timeoutMs: 30_000 });
    expect(runner.zoomInputs[runner.zoomInputs.length - 1].params).toMatchObject({ target: 'goldfish', layers: ['mixed4:300'], seed: 5 });
  });

  it('bad values get one private sentence, before anything is queued', async () => {
    const before = runner.inputs.length;
    const typo = await refusal(dream({ target: 'goldfsh' }));
    expect(typo.content).toBe('Unknown class "goldfsh" for darknet_tiny. Close matches: goldfish, goldfinch.');
    expect(typo.flags).toBe(64);
    expect((await refusal(dream({ target: 'crane' }))).content).toBe('"crane" is ambiguous for darknet_tiny: say "crane (bird)" or "crane (machine)".');
    expect((await refusal(dream({ channel: 'mixed9:3' }))).content).toMatch(/^"mixed9:3" is not a layer or layer:channel of inception_v3 \(layers: mixed0, .*mixed5; e\.g\. mixed5:97\)\.$/);
    expect((await refusal(dream({ model: 'nsfw_screen' }))).content).toBe('There is no dream model "nsfw_screen" here. Installed: darknet_tiny, inception_v3.');
    expect((await refusal(dream({ channel: 'mixed9:3' }, Locale.Japanese))).content).toMatch(/^「mixed9:3」は inception_v3 のレイヤーでも/);
    expect(runner.inputs.length).toBe(before);
  });
});
