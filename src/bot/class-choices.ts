// Autocomplete of class names (`/dream target:`, `/explain target:`): the 1000 ImageNet labels in the member's
// language, or a style's classes, matched on what was typed.
import { className, type Catalog } from '../i18n/index.ts';
import { classesOf } from '../jobs/index.ts';

/** A suggestion: what the member sees, the value sent back, and the words it matches. */
export interface Choice {
  name: string;
  value: string;
  words: string[];
}

/** Class choices in the member's language with the label beside it ("ポンチョ（poncho）"); the value is the label. */
export async function classChoices(t: Catalog, style: string | undefined, stylesDir: string): Promise<Choice[]> {
  return (await classesOf(style, stylesDir)).map((c) => {
    const shown = className(t, c);
    return { name: shown === c.label ? c.label : `${shown}（${c.label}）`, value: c.label, words: [shown, c.label] };
  });
}

/** At most 25 choices (Discord's limit): names that start with what was typed first, then those that contain it. */
export function matching(choices: Choice[], typed: string): { name: string; value: string }[] {
  const q = typed.toLowerCase();
  const starts = choices.filter((c) => c.words.some((w) => w.toLowerCase().startsWith(q)));
  const contains = choices.filter((c) => !starts.includes(c) && c.words.some((w) => w.toLowerCase().includes(q)));
  return [...starts, ...contains].slice(0, 25).map((c) => ({ name: c.name.slice(0, 100), value: c.value.slice(0, 100) }));
}
