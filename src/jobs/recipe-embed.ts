import { EmbedBuilder, type APIEmbed, type Embed } from 'discord.js';
import type { DreamParams } from '../engine/index.ts';
import { isIntensity, type Intensity, type RecipeOverrides } from '../engine/index.ts';

/** Everything that made a result, shown with it so anyone can reproduce it. */
export interface Recipe {
  model: string;
  params: DreamParams & { intensity: Intensity };
  width: number;
  height: number;
  backend: string;
  seconds: number;
}

const FIELD = {
  model: 'Model',
  layers: 'Layers',
  intensity: 'Intensity',
  octaves: 'Octaves × steps',
  stepSize: 'Step size',
  octaveScale: 'Octave scale',
  seed: 'Seed',
  size: 'Size',
  backend: 'Backend',
  time: 'Time',
  style: 'Style',
  target: 'Grows',
  guide: 'Guide',
  guideLayer: 'Guide layer',
} as const;

/** A guided dream's guide, as its recipe shows it. */
export interface RecipeGuide {
  url: string;
  layer?: string;
}

export function recipeEmbed(r: Recipe, sourceUrl: string, imageName: string, guide?: RecipeGuide): APIEmbed {
  const p = r.params;
  const embed = new EmbedBuilder()
    .setTitle(`DeepDream · ${p.intensity}${p.style ? ` · ${p.style}: ${p.target}` : ''}`)
    .setURL(sourceUrl)
    .setImage(`attachment://${imageName}`)
    .setColor(0x7b2fbe)
    .addFields(
      { name: FIELD.model, value: r.model, inline: true },
      { name: FIELD.layers, value: p.layers.join(', '), inline: true },
      { name: FIELD.intensity, value: p.intensity, inline: true },
      { name: FIELD.octaves, value: `${p.octaves} × ${p.steps}`, inline: true },
      { name: FIELD.stepSize, value: String(p.stepSize), inline: true },
      { name: FIELD.octaveScale, value: String(p.octaveScale), inline: true },
      { name: FIELD.seed, value: String(p.seed), inline: true },
      { name: FIELD.size, value: `${r.width}×${r.height}`, inline: true },
      { name: FIELD.backend, value: r.backend, inline: true },
      { name: FIELD.time, value: `${r.seconds.toFixed(1)} s`, inline: true },
      ...(p.style ? [{ name: FIELD.style, value: p.style, inline: true }, { name: FIELD.target, value: p.target ?? '', inline: true }] : []),
      // The guide's link is its field (read back by Dream deeper / Reroll); the thumbnail shows it.
      ...(guide ? [{ name: FIELD.guide, value: `[guide picture](${guide.url})`, inline: true }, ...(guide.layer ? [{ name: FIELD.guideLayer, value: guide.layer, inline: true }] : [])] : []),
    )
    .setFooter({ text: 'The title links to the source image. Same recipe + same seed = same dream.' });
  if (guide) embed.setThumbnail(guide.url);
  return embed.toJSON();
}

/** The guide's URL in a recipe's Guide field (`[guide picture](url)`), or undefined. */
function guideUrlOf(value: string | undefined): string | undefined {
  return value ? (/\]\((\S+)\)$/.exec(value)?.[1] ?? undefined) : undefined;
}

/** Reads a recipe back from a result's embed (for Dream deeper / Reroll): no state kept in the bot. */
export function recipeFromEmbed(embed: Embed | undefined): { overrides: RecipeOverrides; sourceUrl: string; guide?: RecipeGuide } | null {
  if (!embed?.url) return null;
  const get = (name: string) => embed.fields.find((f) => f.name === name)?.value;
  const [octaves, steps] = (get(FIELD.octaves) ?? '').split('×').map((s) => Number(s.trim()));
  const intensity = get(FIELD.intensity) ?? '';
  const overrides: RecipeOverrides = {
    intensity: isIntensity(intensity) ? intensity : undefined,
    layers: get(FIELD.layers)?.split(',').map((s) => s.trim()),
    octaves: Number.isInteger(octaves) ? octaves : undefined,
    steps: Number.isInteger(steps) ? steps : undefined,
    stepSize: Number(get(FIELD.stepSize)) || undefined,
    octaveScale: Number(get(FIELD.octaveScale)) || undefined,
    seed: Number.isInteger(Number(get(FIELD.seed))) ? Number(get(FIELD.seed)) : undefined,
    style: get(FIELD.style),
    target: get(FIELD.target),
  };
  const guideField = get(FIELD.guide);
  const guideUrl = guideField ? (guideUrlOf(guideField) ?? embed.thumbnail?.url) : undefined;
  return { overrides, sourceUrl: embed.url, ...(guideUrl ? { guide: { url: guideUrl, layer: get(FIELD.guideLayer) } } : {}) };
}
