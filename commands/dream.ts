import { SlashCommandBuilder, type AutocompleteInteraction, type ChatInputCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import { classChoices, matching, type Choice } from '../src/bot/class-choices.ts';
import { channelChoices, modelChoices } from '../src/bot/grow-choices.ts';
import type { BotContext } from '../src/bot/context.ts';
import { choice, withWords } from '../src/bot/localize.ts';
import { INTENSITIES, isIntensity, isLayerPreset, LAYER_PRESETS, listStyles } from '../src/engine/index.ts';
import { messagesFor } from '../src/i18n/index.ts';
import { attachmentRef, interactionAddress } from '../src/jobs/index.ts';

const MAX_SEED = 2 ** 31 - 1;

const LAYER_PRESET_IDS = Object.keys(LAYER_PRESETS).filter(isLayerPreset);

export const data = withWords(new SlashCommandBuilder(), (t) => t.commands.dream)
  .addAttachmentOption((o) => withWords(o, (t) => t.commands.dream.options.image).setRequired(true))
  .addStringOption((o) =>
    withWords(o, (t) => t.commands.dream.options.intensity).addChoices(
      ...INTENSITIES.map((i) => choice(i, (t) => `${t.intensities[i].name}: ${t.intensities[i].summary}`)),
    ),
  )
  .addStringOption((o) =>
    withWords(o, (t) => t.commands.dream.options.layers).addChoices(...LAYER_PRESET_IDS.map((name) => choice(name, (t) => `${name}: ${t.layerPresets[name]}`))),
  )
  .addIntegerOption((o) => withWords(o, (t) => t.commands.dream.options.seed).setMinValue(0).setMaxValue(MAX_SEED))
  .addStringOption((o) => withWords(o, (t) => t.commands.dream.options.style).setAutocomplete(true))
  .addStringOption((o) => withWords(o, (t) => t.commands.dream.options.target).setAutocomplete(true))
  .addAttachmentOption((o) => withWords(o, (t) => t.commands.dream.options.guide))
  .addStringOption((o) => withWords(o, (t) => t.commands.dream.options.channel).setAutocomplete(true).setMaxLength(40))
  .addBooleanOption((o) => withWords(o, (t) => t.commands.dream.options.soft))
  .addStringOption((o) => withWords(o, (t) => t.commands.dream.options.model).setAutocomplete(true));

/**
 * Suggests installed styles; for `target`, the chosen style's classes, or without a style the 1000 ImageNet labels
 * in the member's language; striking channels with what they grow; the dream-capable models.
 */
export async function autocomplete(interaction: AutocompleteInteraction, ctx: BotContext): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const typed = String(focused.value);
  const t = messagesFor(interaction.locale);
  let choices: Choice[];
  if (focused.name === 'style') choices = (await listStyles(ctx.config.stylesDir)).map((s) => ({ name: s.name, value: s.name, words: [s.name] }));
  else if (focused.name === 'channel') choices = channelChoices(t, typed);
  else if (focused.name === 'model') choices = await modelChoices(t);
  else choices = await classChoices(t, interaction.options.getString('style') ?? undefined, ctx.config.stylesDir);
  await interaction.respond(matching(choices, typed));
}

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const source = attachmentRef(interaction.options.getAttachment('image', true));
  const guideAttachment = interaction.options.getAttachment('guide');
  const guide = guideAttachment ? attachmentRef(guideAttachment) : undefined;
  // The guide gets the same checks as the image; its refusal says which file it was about.
  if (!(await acceptImages(interaction, ctx.config, [{ ref: source }, { ref: guide, guide: true }]))) return;
  const intensity = interaction.options.getString('intensity');
  const layers = interaction.options.getString('layers');
  await ctx.dreams.handle({
    userId: interaction.user.id,
    source,
    guide,
    overrides: {
      intensity: intensity && isIntensity(intensity) ? intensity : undefined,
      layers: layersOf(layers && isLayerPreset(layers) ? [...LAYER_PRESETS[layers].layers] : undefined, interaction.options.getString('channel')),
      seed: interaction.options.getInteger('seed') ?? undefined,
      style: interaction.options.getString('style') ?? undefined,
      target: interaction.options.getString('target') ?? undefined,
      soft: interaction.options.getBoolean('soft') ?? undefined,
      model: interaction.options.getString('model') ?? undefined,
    },
    reply: interactionAddress(interaction),
  });
}

/** A layer choice and a channel together (mixed3, mixed5, mixed4:97); a channel alone; or the preset's (undefined). */
function layersOf(layers: string[] | undefined, channel: string | null): string[] | undefined {
  if (!channel) return layers;
  return [...(layers ?? []), channel.trim()];
}
