import { SlashCommandBuilder, type AutocompleteInteraction, type ChatInputCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import type { BotContext } from '../src/bot/context.ts';
import { choice, withWords } from '../src/bot/localize.ts';
import { INTENSITIES, isIntensity, isLayerPreset, LAYER_PRESETS, listStyles } from '../src/engine/index.ts';
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
  .addAttachmentOption((o) => withWords(o, (t) => t.commands.dream.options.guide));

/** Suggests installed styles, and the chosen style's classes for `target`. */
export async function autocomplete(interaction: AutocompleteInteraction, ctx: BotContext): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const typed = String(focused.value).toLowerCase();
  const styles = await listStyles(ctx.config.stylesDir);
  const names =
    focused.name === 'style'
      ? styles.map((s) => s.name)
      : (styles.find((s) => s.name === interaction.options.getString('style'))?.classes ?? [...new Set(styles.flatMap((s) => s.classes))]);
  await interaction.respond(names.filter((n) => n.toLowerCase().includes(typed)).slice(0, 25).map((n) => ({ name: n, value: n })));
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
      layers: layers && isLayerPreset(layers) ? [...LAYER_PRESETS[layers].layers] : undefined,
      seed: interaction.options.getInteger('seed') ?? undefined,
      style: interaction.options.getString('style') ?? undefined,
      target: interaction.options.getString('target') ?? undefined,
    },
    reply: interactionAddress(interaction),
  });
}
