import type { LocalizationMap } from 'discord.js';
import { english, localizations, type Catalog, type Words } from '../i18n/index.ts';

/** Discord's localizations of one text, for every language but English (the commands' base words). */
export const localized = (pick: (t: Catalog) => string): LocalizationMap => localizations(pick) as LocalizationMap;

/** A builder that takes a name and description and their localizations (a slash command or one of its options). */
interface Localizable {
  setName(name: string): this;
  setDescription(description: string): this;
  setNameLocalizations(map: LocalizationMap | null): this;
  setDescriptionLocalizations(map: LocalizationMap | null): this;
}

/** Names and describes a command or option in English, with every other language's words as localizations. */
export function withWords<B extends Localizable>(builder: B, pick: (t: Catalog) => Words): B {
  const base = pick(english);
  return builder
    .setName(base.name)
    .setDescription(base.description)
    .setNameLocalizations(localized((t) => pick(t).name))
    .setDescriptionLocalizations(localized((t) => pick(t).description));
}

/** A choice whose name is localized (its value stays the engine's id). */
export function choice<V extends string>(value: V, pick: (t: Catalog) => string): { name: string; name_localizations: LocalizationMap; value: V } {
  return { name: pick(english).slice(0, 100), name_localizations: localized((t) => pick(t).slice(0, 100)), value };
}
