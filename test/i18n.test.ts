import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ErrorDetail } from '../src/errors.ts';
import { className, english, errorText, LANGUAGES, languageFor, localizations, LOCALES_DIR, messagesFor, synsetNamed, type Catalog } from '../src/i18n/index.ts';

const JAPANESE = /[\u3040-\u30ff\u4e00-\u9fff]/;
const ja = LANGUAGES.find((l) => l.tag === 'ja')!.messages;

/** Every leaf of a catalog as [path, value]: strings and functions (not `classNames`, data a language may add). */
function leaves(node: unknown, at = ''): [string, unknown][] {
  if (typeof node === 'string' || typeof node === 'function') return [[at, node]];
  return Object.entries(node as Record<string, unknown>).flatMap(([k, v]) => (at === '' && k === 'classNames' ? [] : leaves(v, at ? `${at}.${k}` : k)));
}

/** One of each member-caused error, with the values its sentence needs. */
const SAMPLE_ERRORS: ErrorDetail[] = [
  { code: 'image.not-on-discord', params: {} },
  { code: 'image.file-too-large', params: { bytes: 30 * 2 ** 20, max: 25 * 2 ** 20 } },
  { code: 'image.download-too-large', params: { max: 1024 } },
  { code: 'image.not-an-image-type', params: { type: 'text/plain' } },
  { code: 'image.download-failed', params: { status: 404 } },
  { code: 'image.download-failed', params: {} },
  { code: 'image.download-slow', params: { seconds: 20 } },
  { code: 'image.empty', params: {} },
  { code: 'image.unreadable', params: {} },
  { code: 'image.damaged', params: {} },
  { code: 'image.too-many-pixels', params: { width: 3000, height: 2000, limit: 5e6 } },
  { code: 'image.heic', params: {} },
  { code: 'style.unknown', params: { style: 'x', installed: ['a', 'b'] } },
  { code: 'style.unknown', params: { style: 'x', installed: [] } },
  { code: 'style.not-a-style', params: { model: 'inception_v3' } },
  { code: 'style.unknown-class', params: { style: 's', target: 't', classes: ['a', 'b'] } },
  { code: 'label.out-of-range', params: { target: '1200', model: 'darknet', count: 1000 } },
  { code: 'label.empty', params: { model: 'darknet' } },
  { code: 'label.ambiguous', params: { target: 'crane', model: 'darknet', options: ['crane (bird)', 'crane (machine)'] } },
  { code: 'label.unknown', params: { target: 'dgo', model: 'darknet', close: ['dog'] } },
];

describe('message catalogs', () => {
  let tmp = '';
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('every language has every key English has, with the same arity, and nothing more', () => {
    const base = new Map(leaves(english));
    for (const language of LANGUAGES) {
      const own = new Map(leaves(language.messages));
      expect([...own.keys()].sort(), language.tag).toEqual([...base.keys()].sort());
      for (const [key, value] of own) {
        const en = base.get(key);
        expect(typeof value, `${language.tag} ${key}`).toBe(typeof en);
        if (typeof value === 'function') expect(value.length, `${language.tag} ${key}`).toBe((en as (...a: unknown[]) => string).length);
        else expect(value, `${language.tag} ${key}`).not.toBe('');
      }
    }
  });

  it('the Japanese catalog is written in Japanese (every plain text, every error)', () => {
    const untranslated = leaves(ja).filter(([, v]) => typeof v === 'string' && !JAPANESE.test(v as string));
    expect(untranslated).toEqual([]);
    for (const detail of SAMPLE_ERRORS) {
      const text = errorText(ja, { message: 'English', detail });
      expect(text, detail.code).toMatch(JAPANESE);
      expect(text, detail.code).not.toBe(errorText(english, { message: 'English', detail }));
    }
  });

  it('Japanese names every ImageNet class the Explain classifier knows, each differently', async () => {
    const synsets = JSON.parse(await readFile(path.resolve('models/darknet_tiny/synsets.json'), 'utf8')) as string[];
    const names = ja.classNames!;
    expect(Object.keys(names).sort()).toEqual([...synsets].sort());
    expect(new Set(Object.values(names)).size).toBe(synsets.length);
    expect(Object.values(names).filter((n) => !JAPANESE.test(n)).length).toBeLessThan(5); // iPod and the like
    expect(className(ja, { label: 'poncho', synset: 'n03980874' })).toBe(names.n03980874);
    expect(className(english, { label: 'poncho', synset: 'n03980874' })).toBe('poncho');
    expect(synsetNamed(names.n03980874)).toBe('n03980874');
  });

  it('English error wording is the error message the CLI shows', () => {
    expect(errorText(english, { message: '', detail: SAMPLE_ERRORS[1] })).toBe('That file is 30 MB; the most I take is 25 MB.');
    expect(errorText(english, { message: '', detail: SAMPLE_ERRORS[10] })).toBe('That image is too large: 3000×2000 is 6.0 megapixels; the limit is 5.0 megapixels.');
    expect(errorText(english, { message: 'plain', detail: undefined })).toBe('plain');
  });

  it('numbers and durations are formatted for the language with Intl', () => {
    const progress = { octave: 2, octaves: 3, step: 4, steps: 10, fraction: 0.456, etaSeconds: 185 };
    expect(english.queue.dreaming(progress)).toBe('🌀 Dreaming… octave 2/3, step 4/10 · 45% · ~3m 05s left');
    expect(ja.queue.dreaming(progress)).toBe('🌀 ドリーム中… オクターブ 2/3・ステップ 4/10・45%・残り約 3 分 5 秒');
    expect(english.queue.waiting(12, 0)).toBe('⏳ In the queue: position 12 (starting now).');
    expect(ja.queue.waiting(2, 42)).toBe('⏳ 順番待ち：2 番目（開始まで約 42 秒）');
    expect(english.refusals.queueFull(1234, 600)).toBe('The queue is full (1,234 waiting); try again in ~10 min.');
    expect(ja.refusals.userLimit(2)).toBe('すでに 2 件のドリームがキューに入っています。どれかが終わるまでお待ちください。');
    expect(english.refusals.userLimit(1)).toBe('You already have 1 dream in the queue; wait for one to finish.');
    expect(ja.explain.score('tabby', 0.053)).toBe('tabby 5.3%');
    expect(ja.recipe.seconds(12.34)).toBe('12.3 秒');
    expect(ja.styles.entry({ classes: ['cat', 'dog'], accuracy: 0.91, trained: new Date('2026-11-30T12:00:00Z') })).toBe('クラス：cat、dog\n検証精度：91%・学習日：2026/11/30');
  });

  it('a Discord locale picks its language: exact, then by language, else English', () => {
    expect(messagesFor('ja')).toBe(ja);
    expect(messagesFor('ja-JP')).toBe(ja);
    expect(messagesFor('en-GB')).toBe(english);
    expect(messagesFor('fr')).toBe(english);
    expect(messagesFor(undefined)).toBe(english);
    expect(localizations((t) => t.buttons.reroll)).toEqual({ ja: 'リロール' });
  });

  it('each file in locales/ is a language, and adding one is adding its file', async () => {
    const files = (await readdir(LOCALES_DIR)).filter((f) => f.endsWith('.ts'));
    expect(LANGUAGES.map((l) => `${l.tag}.ts`).sort()).toEqual(files.sort());
    // A copy of src/i18n with one more file (a French stub built on the English words) speaks French everywhere.
    const src = path.dirname(path.dirname(LOCALES_DIR));
    tmp = await mkdtemp(path.join(tmpdir(), 'i18n-'));
    await cp(path.join(src, 'i18n'), path.join(tmp, 'src', 'i18n'), { recursive: true });
    await cp(path.join(src, 'errors.ts'), path.join(tmp, 'src', 'errors.ts'));
    const en = await readFile(path.join(LOCALES_DIR, 'en.ts'), 'utf8');
    const fr = en.replace("tag: 'en'", "tag: 'fr'").replace("discordLocales: ['en-US', 'en-GB']", "discordLocales: ['fr']").replace("cancel: 'Cancel'", "cancel: 'Annuler'");
    await writeFile(path.join(tmp, 'src', 'i18n', 'locales', 'fr.ts'), fr);
    const copy = (await import(path.join(tmp, 'src', 'i18n', 'index.ts'))) as { messagesFor: (l: string) => Catalog; localizations: typeof localizations };
    expect(copy.messagesFor('fr').buttons.cancel).toBe('Annuler');
    expect(copy.localizations((t) => t.buttons.cancel)).toEqual({ fr: 'Annuler', ja: 'キャンセル' });
    expect(languageFor('fr').tag).toBe('en'); // the project itself is unchanged
  });
});
