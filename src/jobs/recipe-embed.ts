import { EmbedBuilder, type APIEmbed, type Embed } from 'discord.js';
import type { DreamParams } from '../engine/index.ts';
import { isIntensity, type Intensity, type RecipeOverrides } from '../engine/light.ts';
import { LANGUAGES, type Catalog, type RecipeFields } from '../i18n/index.ts';

/** Everything that made a result, shown with it so anyone can reproduce it. */
export interface Recipe {
  /** The worker's model; `params.model` when the recipe chose another. */
  model: string;
  /** An ImageNet target's name in the member's language (default: its label). */
  targetName?: string;
  params: DreamParams & { intensity: Intensity };
  width: number;
  height: number;
  backend: string;
  seconds: number;
}

/** A guided dream's guide, as its recipe shows it. */
export interface RecipeGuide {
  url: string;
  layer?: string;
}

/** The Layers field of a class grown alone (no layers): read back as none. */
const NO_LAYERS = '—';

/**
 * The result's embed, in the requester's language. Values that Dream deeper and Reroll read back (intensity, layers,
 * numbers) are written as the engine spells them, whatever the language.
 */
export function recipeEmbed(t: Catalog, r: Recipe, sourceUrl: string, imageName: string, guide?: RecipeGuide): APIEmbed {
  const p = r.params;
  const field = t.recipe.fields;
  const embed = new EmbedBuilder()
    .setTitle(t.recipe.title(p.intensity, p.style ? { name: p.style, target: p.target ?? '' } : p.target ? { name: t.imageNetClass, target: r.targetName ?? p.target } : undefined))
    .setURL(sourceUrl)
    .setImage(`attachment://${imageName}`)
    .setColor(0x7b2fbe)
    .addFields(
      { name: field.model, value: p.model ?? r.model, inline: true },
      { name: field.layers, value: p.layers.join(', ') || NO_LAYERS, inline: true },
      { name: field.intensity, value: p.intensity, inline: true },
      { name: field.octaves, value: `${p.octaves} × ${p.steps}`, inline: true },
      { name: field.stepSize, value: String(p.stepSize), inline: true },
      { name: field.octaveScale, value: String(p.octaveScale), inline: true },
      { name: field.seed, value: String(p.seed), inline: true },
      { name: field.size, value: `${r.width}×${r.height}`, inline: true },
      { name: field.backend, value: r.backend, inline: true },
      { name: field.time, value: t.recipe.seconds(r.seconds), inline: true },
      ...(p.style ? [{ name: field.style, value: p.style, inline: true }] : []),
      ...(p.target ? [{ name: field.target, value: p.target, inline: true }] : []),
      { name: field.soft, value: p.soft ? 'on' : 'off', inline: true },
      // The guide's link is its field (read back by Dream deeper / Reroll); the thumbnail shows it.
      ...(guide ? [{ name: field.guide, value: `[${t.recipe.guideLink}](${guide.url})`, inline: true }, ...(guide.layer ? [{ name: field.guideLayer, value: guide.layer, inline: true }] : [])] : []),
    )
    .setFooter({ text: t.recipe.footer });
  if (guide) embed.setThumbnail(guide.url);
  return embed.toJSON();
}

/** The guide's URL in a recipe's Guide field (`[guide picture](url)`), or undefined. */
function guideUrlOf(value: string | undefined): string | undefined {
  return value ? (/\]\((\S+)\)$/.exec(value)?.[1] ?? undefined) : undefined;
}

/**
 * Reads a recipe back from a result's embed (for Dream deeper / Reroll): no state kept in the bot. The embed may be
 * in any language the bot speaks (whoever asked first), so a field is found by its name in any of them.
 */
export function recipeFromEmbed(embed: Embed | undefined): { overrides: RecipeOverrides; sourceUrl: string; guide?: RecipeGuide } | null {
  if (!embed?.url) return null;
  const get = (key: keyof RecipeFields) => {
    const names = new Set(LANGUAGES.map((l) => l.messages.recipe.fields[key]));
    return embed.fields.find((f) => names.has(f.name))?.value;
  };
  const [octaves, steps] = (get('octaves') ?? '').split('×').map((s) => Number(s.trim()));
  const intensity = get('intensity') ?? '';
  const layers = get('layers');
  const soft = get('soft');
  const overrides: RecipeOverrides = {
    intensity: isIntensity(intensity) ? intensity : undefined,
    layers: layers === NO_LAYERS ? [] : layers?.split(',').map((s) => s.trim()),
    octaves: Number.isInteger(octaves) ? octaves : undefined,
    steps: Number.isInteger(steps) ? steps : undefined,
    stepSize: Number(get('stepSize')) || undefined,
    octaveScale: Number(get('octaveScale')) || undefined,
    seed: Number.isInteger(Number(get('seed'))) ? Number(get('seed')) : undefined,
    style: get('style'),
    target: get('target'),
    model: get('model'),
    soft: soft === 'on' ? true : soft === 'off' ? false : undefined,
  };
  const guideField = get('guide');
  const guideUrl = guideField ? (guideUrlOf(guideField) ?? embed.thumbnail?.url) : undefined;
  return { overrides, sourceUrl: embed.url, ...(guideUrl ? { guide: { url: guideUrl, layer: get('guideLayer') } } : {}) };
}
