import { SlashCommandBuilder, type AutocompleteInteraction, type ChatInputCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import type { BotContext } from '../src/bot/context.ts';
import { INTENSITIES, isIntensity, isLayerPreset, LAYER_PRESETS, listStyles, PRESETS } from '../src/engine/index.ts';
import { attachmentRef, interactionAddress } from '../src/jobs/index.ts';

const MAX_SEED = 2 ** 31 - 1;

export const data = new SlashCommandBuilder()
  .setName('dream')
  .setDescription('Turn an image into a DeepDream nightmare')
  .addAttachmentOption((o) => o.setName('image').setDescription('The image to dream (JPEG, PNG, WebP, GIF, AVIF, TIFF)').setRequired(true))
  .addStringOption((o) =>
    o
      .setName('intensity')
      .setDescription('How deep the dream goes (default medium)')
      .addChoices(...INTENSITIES.map((i) => ({ name: `${i}: ${PRESETS[i].summary}`.slice(0, 100), value: i }))),
  )
  .addStringOption((o) =>
    o
      .setName('layers')
      .setDescription('What grows in the dream (default: the intensity\'s)')
      .addChoices(...Object.entries(LAYER_PRESETS).map(([name, p]) => ({ name: `${name}: ${p.description}`, value: name }))),
  )
  .addIntegerOption((o) => o.setName('seed').setDescription('Same image + same seed = same dream').setMinValue(0).setMaxValue(MAX_SEED))
  .addStringOption((o) => o.setName('style').setDescription("A style trained on this server's photos (see /styles)").setAutocomplete(true))
  .addStringOption((o) => o.setName('target').setDescription("Which of the style's classes grows in the dream").setAutocomplete(true))
  .addAttachmentOption((o) => o.setName('guide').setDescription('A picture whose features grow in the dream (a guided dream)'));

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
  if (!(await acceptImages(interaction, ctx.config, [{ ref: source }, { ref: guide, label: 'The guide' }]))) return;
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
