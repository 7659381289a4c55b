import { SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import type { BotContext } from '../src/bot/context.ts';
import { choice, withWords } from '../src/bot/localize.ts';
import { INTENSITIES, isIntensity, ZOOM_DEFAULTS, ZOOM_LIMITS, ZOOM_PRESETS } from '../src/engine/index.ts';
import type { Catalog } from '../src/i18n/index.ts';
import { attachmentRef, interactionAddress } from '../src/jobs/index.ts';

const MAX_SEED = 2 ** 31 - 1;

/** `/zoom`: an endless-zoom animation of a picture, new dream creatures growing out of the old ones (a looping GIF). */
const words = (t: Catalog) => t.commands.zoom.options;

export const data = withWords(new SlashCommandBuilder(), (t) => t.commands.zoom)
  .addAttachmentOption((o) => withWords(o, (t) => words(t).image).setRequired(true))
  .addIntegerOption((o) =>
    withWords(o, (t) => ({ ...words(t).frames, description: t.commands.withDefault(words(t).frames.description, ZOOM_DEFAULTS.frames) }))
      .setMinValue(ZOOM_LIMITS.minFrames)
      .setMaxValue(ZOOM_LIMITS.maxFrames),
  )
  .addNumberOption((o) =>
    withWords(o, (t) => ({ ...words(t).zoom, description: t.commands.withDefault(words(t).zoom.description, ZOOM_DEFAULTS.zoom) }))
      .setMinValue(ZOOM_LIMITS.minZoom)
      .setMaxValue(ZOOM_LIMITS.maxZoom),
  )
  .addStringOption((o) =>
    withWords(o, (t) => words(t).intensity).addChoices(
      ...INTENSITIES.map((i) => choice(i, (t) => t.commands.zoomIntensity(i, ZOOM_PRESETS[i].octaves, ZOOM_PRESETS[i].steps))),
    ),
  )
  .addIntegerOption((o) => withWords(o, (t) => words(t).seed).setMinValue(0).setMaxValue(MAX_SEED));

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const source = attachmentRef(interaction.options.getAttachment('image', true));
  if (!(await acceptImages(interaction, ctx.config, [{ ref: source }]))) return;
  const intensity = interaction.options.getString('intensity');
  await ctx.dreams.zoom({
    userId: interaction.user.id,
    source,
    overrides: {
      intensity: intensity && isIntensity(intensity) ? intensity : undefined,
      frames: interaction.options.getInteger('frames') ?? undefined,
      zoom: interaction.options.getNumber('zoom') ?? undefined,
      seed: interaction.options.getInteger('seed') ?? undefined,
    },
    reply: interactionAddress(interaction),
  });
}
