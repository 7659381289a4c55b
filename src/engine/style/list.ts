import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { isStyleJson, parseStyleFile } from './spec.ts';

/** What a chooser (the bot's `style` option, `/styles`) shows of an installed style. */
export interface StyleSummary {
  name: string;
  classes: string[];
  /** Validation accuracy of the saved epoch, 0..1. */
  valAccuracy: number;
  /** Model whose frozen layers the style reads (`inception_v3`). */
  trunk: string;
  /** ISO 8601 time it was trained. */
  date: string;
  /** The trunk blocks it fine-tuned (`npm run train -- --fine-tune`): it dreams on its own trunk. */
  fineTuned?: string[];
}

/**
 * The styles installed under `modelsDir` (the styles folder), sorted by name. Reads only the
 * manifests (cheap enough for autocomplete); folders that are not valid styles are left out.
 */
export async function listStyles(modelsDir: string): Promise<StyleSummary[]> {
  const entries = await readdir(modelsDir, { withFileTypes: true }).catch(() => []);
  const styles: StyleSummary[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    try {
      const json: unknown = JSON.parse(await readFile(path.join(modelsDir, entry.name, 'manifest.json'), 'utf8'));
      if (!isStyleJson(json)) continue;
      const s = parseStyleFile(json, (what) => {
        throw new Error(what);
      });
      if (s.name !== entry.name) continue; // a copied folder: its name is how --model finds it
      styles.push({ name: s.name, classes: s.classes, valAccuracy: s.valAccuracy, trunk: s.trunk, date: s.date, ...(s.fineTune ? { fineTuned: s.fineTune.blocks } : {}) });
    } catch {
      // not a style, or a broken one: not listed
    }
  }
  return styles.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
