import { InteractionType, Locale, type APIEmbed, type APIInteraction } from 'discord.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { deployCommands } from '../src/bot/deploy.ts';
import { deployConfig } from '../src/config.ts';
import { messagesFor } from '../src/i18n/index.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { callbackOf, isFollowUp, isOriginalEdit, text } from './helpers/requests.ts';

/** Japanese script (hiragana, katakana or kanji). */
const JAPANESE = /[\u3040-\u30ff\u4e00-\u9fff]/;

type ResultBody = { content: string; embeds: APIEmbed[]; components: { components: { custom_id: string; label: string }[] }[] };

/** The interaction as a member whose Discord client is in `locale` sends it. */
const inLocale = <T extends APIInteraction>(interaction: T, locale: Locale): T => ({ ...interaction, locale });

describe('fluent in Japanese: each member is answered in their Discord language', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let runner: FakeRunner;
  let photo: Buffer;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(160, 120, 'png');
    runner = new FakeRunner({ msPerMegapixel: 0, msPerFrame: 2 }); // 2 ms a step or frame: a job that must keep running is held
    bot = await startTestBot(fake, { DREAM_MAX_SIDE: '256', DREAM_CONCURRENCY: '1', STATUS_EDIT_INTERVAL_MS: '50' }, runner);
  });
  afterEach(() => runner.release());
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  const dream = (locale: Locale, options: Record<string, string | number> = { intensity: 'low', seed: 77 }) =>
    fake.dispatchInteraction(inLocale(fake.chatInput({ name: 'dream', options, attachments: { image: { filename: 'p.png', bytes: photo } } }), locale));
  const finalEdit = (i: { token: string }) =>
    fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 30_000 });

  it('/dream with locale "ja": Japanese waiting, progress and result messages, embed and buttons', async () => {
    runner.hold('end'); // the result waits until the progress has been seen
    const i = dream(Locale.Japanese);
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && /ドリーム中…/.test(text(r)), { fromIndex: 0, timeoutMs: 20_000 });
    runner.release();
    const done = await finalEdit(i);
    const edits = fake.requests.filter(isOriginalEdit(i));
    // The waiting line, then progress with a Cancel button, all in Japanese.
    expect((edits[0].json as { content: string }).content).toMatch(/^⏳ 順番待ち：1 番目（/);
    const progress = edits.filter((e) => /ドリーム中…/.test(text(e)));
    expect(progress.length).toBeGreaterThan(0);
    expect((progress[0].json as { content: string }).content).toMatch(/^🌀 ドリーム中… オクターブ \d\/\d・ステップ \d+\/\d+・\d+(\.\d)?%・残り約 \d+ 秒$/);
    expect(text(progress[0])).toContain('"label":"キャンセル"');
    // The result: a Japanese sentence, embed and buttons; the values Reroll reads back stay the engine's.
    const body = done.json as ResultBody;
    expect(body.content).toBe(`<@${fake.users.alice.id}> さん、ドリームができあがりました！`);
    const embed = body.embeds[0];
    expect(embed.title).toBe('DeepDream・弱');
    const fields = Object.fromEntries(embed.fields!.map((f) => [f.name, f.value]));
    expect(fields).toMatchObject({ モデル: 'inception_v3', 強さ: 'low', レイヤー: 'mixed3, mixed5', 'オクターブ × ステップ': '2 × 6', シード: '77' });
    expect(fields['所要時間']).toMatch(/^\d+\.\d 秒$/);
    expect(embed.footer?.text).toMatch(JAPANESE);
    expect(body.components[0].components.map((c) => c.label)).toEqual(['もっと深く', 'リロール', 'AIの視点', 'アニメ化', '削除']);
    // No English sentence slipped through on the way.
    for (const e of edits) expect(text(e)).not.toMatch(/Dreaming|In the queue|is ready|Cancel"/);
  });

  it('an English member still gets English, and Reroll on a Japanese result reads its recipe back', async () => {
    const en = dream(Locale.EnglishUS, { intensity: 'high', seed: 5 });
    const enBody = (await finalEdit(en)).json as ResultBody;
    expect(enBody.content).toMatch(/your dream is ready\.$/);
    expect(enBody.embeds[0].fields!.map((f) => f.name)).toContain('Intensity');

    const ja = dream(Locale.Japanese, { intensity: 'high', seed: 6 });
    await finalEdit(ja);
    const result = fake.originalMessage(ja.id)!;
    expect(result.embeds[0].fields!.map((f) => f.name)).toContain('強さ');
    // An English member rerolls the Japanese result: same recipe (intensity high), a new seed, answered in English.
    const reroll = fake.dispatchInteraction(fake.button({ customId: 'dream:reroll', message: result }));
    const body = (await finalEdit(reroll)).json as ResultBody;
    const fields = Object.fromEntries(body.embeds[0].fields!.map((f) => [f.name, f.value]));
    expect(fields.Intensity).toBe('high');
    expect(fields['Octaves × steps']).toBe('4 × 12');
    expect(fields.Seed).not.toBe('6');
    expect(body.components[0].components.map((c) => c.label)).toContain('Reroll');
  });

  it('refusals are private and Japanese: a file that is not an image, a damaged picture, an unknown style', async () => {
    const notImage = fake.dispatchInteraction(
      inLocale(fake.chatInput({ name: 'dream', attachments: { image: { filename: 'notes.txt', bytes: Buffer.from('hello'), contentType: 'text/plain' } } }), Locale.Japanese),
    );
    const first = await fake.waitForRequest(callbackOf(notImage), { fromIndex: 0 });
    expect(first.json).toMatchObject({ type: 4, data: { content: 'このファイルは画像ではありません（text/plain）。', flags: 64 } });

    const damaged = fake.dispatchInteraction(
      inLocale(fake.chatInput({ name: 'dream', attachments: { image: { filename: 'x.png', bytes: Buffer.from('not really a png'), contentType: 'image/png' } } }), Locale.Japanese),
    );
    expect((await fake.waitForRequest(isFollowUp(damaged), { fromIndex: 0 })).json).toEqual({
      content: 'このファイルは読み込める画像ではありません（対応形式：JPEG、PNG、WebP、GIF、AVIF、TIFF）。',
      flags: 64,
    });

    const style = dream(Locale.Japanese, { style: 'no_such_style' });
    const refusal = (await fake.waitForRequest(isFollowUp(style), { fromIndex: 0 })).json as { content: string; flags: number };
    expect(refusal.flags).toBe(64);
    expect(refusal.content).toMatch(/^「no_such_style」というスタイルはありません。使えるスタイル：/);
  });

  it('Explain answers a Japanese member in Japanese, ImageNet labels included', async () => {
    const names = messagesFor('ja').classNames!;
    const i = fake.dispatchInteraction(inLocale(fake.chatInput({ name: 'explain', attachments: { image: { filename: 'p.png', bytes: photo } } }), Locale.Japanese));
    const done = await fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.startsWith('explain')), { fromIndex: 0, timeoutMs: 30_000 });
    const body = done.json as ResultBody;
    expect(body.content).toBe(`<@${fake.users.alice.id}> さん、AIに見えているものはこちらです。`);
    // The fake classifier's top label is Border terrier (n02093754), then seashore (n09428293).
    expect(body.embeds[0].title).toBe(`AIの視点・${names.n02093754}`);
    expect(body.embeds[0].fields!.map((f) => f.name)).toEqual(['上位5件', 'モデル']);
    expect(body.embeds[0].fields![0].value).toMatch(new RegExp(`^1\\. ${names.n02093754} 42%\\n2\\. ${names.n09428293} 21%`));
  });

  it('/explain target: suggests labels in Japanese and takes a Japanese name', async () => {
    const names = messagesFor('ja').classNames!;
    const base = inLocale(fake.chatInput({ name: 'explain' }), Locale.Japanese);
    const typed = names.n03980874.slice(0, 2); // the start of poncho's Japanese name
    const ask = fake.dispatchInteraction({ ...base, type: InteractionType.ApplicationCommandAutocomplete, data: { ...base.data, options: [{ name: 'target', type: 3, value: typed, focused: true }] } } as never);
    const answer = await fake.waitForRequest(callbackOf(ask), { fromIndex: 0 });
    const choices = (answer.json as { data: { choices: { name: string; value: string }[] } }).data.choices;
    expect(choices).toContainEqual({ name: `${names.n03980874}（poncho）`, value: 'poncho' });

    const i = fake.dispatchInteraction(
      inLocale(fake.chatInput({ name: 'explain', options: { target: names.n03980874 }, attachments: { image: { filename: 'p.png', bytes: photo } } }), Locale.Japanese),
    );
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.startsWith('explain')), { fromIndex: 0, timeoutMs: 30_000 });
    expect(runner.explainInputs.at(-1)?.target).toBe('poncho');
  });

  it('a mention is answered in the server\'s preferred language (there is no member locale)', async () => {
    fake.dispatch('GUILD_UPDATE', { id: fake.guildId, preferred_locale: Locale.Japanese });
    await expect.poll(() => bot.client.guilds.cache.get(fake.guildId)?.preferredLocale, { timeout: 10_000, interval: 20 }).toBe(Locale.Japanese);
    let from = fake.requests.length;
    fake.dispatchMessage(fake.message({ author: fake.users.alice, content: 'dream this', mentionsBot: true }));
    const hint = await fake.waitForRequest((r) => r.method === 'POST' && r.path === `/channels/${fake.channelId}/messages`, { fromIndex: from });
    expect((hint.json as { content: string }).content).toMatch(/^画像が見つかりません。.*「弱」「中」「強」「悪夢」や「シード 42」/);

    from = fake.requests.length;
    fake.dispatchMessage(fake.message({ author: fake.users.alice, content: '悪夢、シード 7 でお願いします', mentionsBot: true, attachments: [{ filename: 'p.png', bytes: photo, contentType: 'image/png' }] }));
    const final = await fake.waitForRequest((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${fake.channelId}/messages/`) && r.files.some((f) => f.filename.startsWith('dream-')), {
      fromIndex: from,
      timeoutMs: 30_000,
    });
    // "悪夢" and "シード 7" are read as nightmare and seed 7.
    const embed = (final.json as ResultBody).embeds[0];
    expect(embed.title).toBe('DeepDream・悪夢');
    expect(embed.fields!.find((f) => f.name === 'シード')?.value).toBe('7');
    fake.dispatch('GUILD_UPDATE', { id: fake.guildId, preferred_locale: Locale.EnglishUS });
  });

  it('a mention written in Japanese is answered in Japanese even in an English server', async () => {
    await expect.poll(() => bot.client.guilds.cache.get(fake.guildId)?.preferredLocale, { timeout: 10_000, interval: 20 }).toBe(Locale.EnglishUS);
    const hintFor = async (content: string) => {
      const from = fake.requests.length;
      fake.dispatchMessage(fake.message({ author: fake.users.alice, content, mentionsBot: true }));
      const hint = await fake.waitForRequest((r) => r.method === 'POST' && r.path === `/channels/${fake.channelId}/messages`, { fromIndex: from });
      return (hint.json as { content: string }).content;
    };
    expect(await hintFor('これを夢にして')).toMatch(/^画像が見つかりません。/);
    expect(await hintFor('dream this please')).toMatch(/^I see no image here\./);
  });

  it('npm run deploy-commands registers Japanese names and descriptions for every command, option and choice', async () => {
    // What `npm run deploy-commands` runs, in this process (bot.test.ts runs the real command once).
    await deployCommands(deployConfig({ DISCORD_TOKEN: fake.token, DISCORD_CLIENT_ID: fake.applicationId, DISCORD_GUILD_ID: fake.guildId, DISCORD_API: fake.apiBase }));
    const commands = fake.registeredCommands(fake.guildId);
    expect(Object.fromEntries(commands.map((c) => [c.name, c.name_localizations?.ja]))).toEqual({
      dream: 'ドリーム',
      explain: '解説',
      styles: 'スタイル一覧',
      zoom: 'ズーム',
      Dream: 'ドリーム',
      Explain: 'AIの視点',
    });
    for (const c of commands) {
      if (c.type !== 1) continue;
      expect(c.description_localizations?.ja).toMatch(JAPANESE);
      for (const o of c.options ?? []) {
        expect(o.name_localizations?.ja, `${c.name} ${o.name}`).toMatch(JAPANESE);
        expect(o.description_localizations?.ja, `${c.name} ${o.name}`).toMatch(JAPANESE);
        for (const choice of (o as { choices?: { name_localizations?: Record<string, string> }[] }).choices ?? []) expect(choice.name_localizations?.ja).toMatch(JAPANESE);
      }
    }
    const zoom = commands.find((c) => c.name === 'zoom')!;
    expect(zoom.options?.find((o) => o.name === 'frames')?.description_localizations?.ja).toBe('アニメーションのフレーム数。多いほど時間がかかります（既定：36）');
  });
});
