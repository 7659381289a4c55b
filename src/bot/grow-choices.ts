// Autocomplete for `/dream channel:` (a dozen striking channels, each with what it grows) and `/dream model:`
// (the dream-capable models installed, with their titles in the member's language).
import { listDreamModels, splitLayerSpec } from '../engine/light.ts';
import { CHANNEL_IDS, type Catalog, type DreamModelId } from '../i18n/index.ts';
import type { Choice } from './class-choices.ts';

/** The suggested channels ("mixed4:97 · a glowing web of stars"); anything typed as layer:channel is offered too. */
export function channelChoices(t: Catalog, typed: string): Choice[] {
  const curated: Choice[] = CHANNEL_IDS.map((id) => ({ name: `${id} · ${t.channels[id]}`, value: id, words: [id, t.channels[id]] }));
  const own = typed.trim();
  const spec = splitLayerSpec(own);
  // The member's own channel first, as typed; the engine checks it (layer, range) with one sentence.
  if (spec?.channel !== undefined && !CHANNEL_IDS.some((id) => id === own)) curated.unshift({ name: own, value: own, words: [own] });
  return curated;
}

/** Installed dream models (not styles, not the screener), titled in the member's language. */
export async function modelChoices(t: Catalog): Promise<Choice[]> {
  return (await listDreamModels()).map((m) => {
    const title = Object.hasOwn(t.models, m.name) ? t.models[m.name as DreamModelId] : m.title;
    return { name: title, value: m.name, words: [title, m.name] };
  });
}
