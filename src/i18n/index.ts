import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ErrorDetail } from '../errors.ts';
import type { Catalog, Language } from './catalog.ts';
import en from './locales/en.ts';

export type { Catalog, ChannelId, CommunityWords, DreamModelId, IntensityId, Language, LayerPresetId, RecipeFields, SettingsView, Words } from './catalog.ts';
export { CHANNEL_IDS } from './catalog.ts';
export type { Formatters } from './format.ts';

/** One file per language (`en.ts`, `ja.ts`, …), loaded like commands/: adding a language is adding its file. */
export const LOCALES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'locales');

async function loadLanguages(): Promise<Language[]> {
  const files = readdirSync(LOCALES_DIR).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).sort();
  const languages = await Promise.all(files.map(async (f) => ((await import(pathToFileURL(path.join(LOCALES_DIR, f)).href)) as { default: Language }).default));
  return [en, ...languages.filter((l) => l !== en && l.tag !== en.tag)];
}

/** Every language, English first (the default and the commands' base words). */
export const LANGUAGES: readonly Language[] = await loadLanguages();

/** English: the default language, and the wording of every error's message (CLI, logs). */
export const english: Catalog = en.messages;
/** English numbers and durations, for the command-line tools. */
export const englishFormat = en.format;

/**
 * The catalog for a Discord locale (`ja`, `en-US`, …): an exact match, else the same language (`ja-JP` → ja),
 * else English.
 */
export function messagesFor(locale: string | null | undefined): Catalog {
  return languageFor(locale).messages;
}

export function languageFor(locale: string | null | undefined): Language {
  if (!locale) return en;
  const exact = LANGUAGES.find((l) => l.discordLocales.includes(locale));
  if (exact) return exact;
  const base = locale.split('-')[0].toLowerCase();
  return LANGUAGES.find((l) => l.tag === base || l.discordLocales.some((d) => d.split('-')[0].toLowerCase() === base)) ?? en;
}

/**
 * The locale to answer a message in, which has no member locale: the language whose script the text is written in
 * (Japanese in an English server), else the server's preferred locale.
 */
export function localeOfText(text: string, serverLocale: string | null | undefined): string | undefined {
  const written = LANGUAGES.find((l) => l.script?.test(text));
  return written ? written.discordLocales[0] : (serverLocale ?? undefined);
}

/** A classifier's class as a language names it: its ImageNet name there, else the classifier's label. */
export function className(t: Catalog, c: { label: string; synset?: string }): string {
  return (c.synset && t.classNames?.[c.synset]) || c.label;
}

/** The WordNet id of a class named in any language ("ポンチョ" → n03980874), for targets typed in that language. */
export function synsetNamed(name: string): string | undefined {
  const wanted = name.trim().toLowerCase();
  for (const l of LANGUAGES) {
    for (const [synset, n] of Object.entries(l.messages.classNames ?? {})) if (n.toLowerCase() === wanted) return synset;
  }
  return undefined;
}

/** An error's sentence in a language: its detail worded by the catalog, else its (English) message. */
export function errorText(t: Catalog, err: { message: string; detail?: ErrorDetail }): string {
  const d = err.detail;
  if (!d) return err.message;
  // Each code's wording takes that code's params; TypeScript cannot pair them through the union.
  const word = t.errors[d.code] as (p: ErrorDetail['params']) => string;
  return word(d.params);
}

/** The English sentence of an error detail (its message). */
export function englishError(detail: ErrorDetail): string {
  return errorText(english, { message: '', detail });
}

/**
 * Discord's localizations of one text: `{ ja: … }` for every language but English (the base words), as
 * `setNameLocalizations` / `setDescriptionLocalizations` and choices' `name_localizations` take them.
 */
export function localizations(pick: (t: Catalog) => string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of LANGUAGES) {
    if (l === en) continue;
    for (const code of l.discordLocales) out[code] = pick(l.messages);
  }
  return out;
}
