import { SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import type { BotContext } from '../src/bot/context.ts';
import { INTENSITIES, isIntensity, ZOOM_DEFAULTS, ZOOM_LIMITS, ZOOM_PRESETS } from '../src/engine/index.ts';
import { attachmentRef, interactionAddress } from '../src/jobs/index.ts';

const MAX_SEED = 2 ** 31 - 1;

/** `/zoom`: an endless-zoom animation of a picture, new dream creatures growing out of the old ones (a looping GIF). */
export const data = new SlashCommandBuilder()
  .setName('zoom')
  .setDescription('Animate an image as an endless DeepDream zoom (a looping GIF)')
  .addAttachmentOption((o) => o.setName('image').setDescription('The image to animate (JPEG, PNG, WebP, GIF, AVIF, TIFF)').setRequired(true))
  .addIntegerOption((o) =>
    o
      .setName('frames')
      .setDescription(`Frames in the animation (default ${ZOOM_DEFAULTS.frames}; more take longer)`)
      .setMinValue(ZOOM_LIMITS.minFrames)
      .setMaxValue(ZOOM_LIMITS.maxFrames),
  )
  .addNumberOption((o) =>
    o
      .setName('zoom')
      .setDescription(`Zoom per frame (default ${ZOOM_DEFAULTS.zoom})`)
      .setMinValue(ZOOM_LIMITS.minZoom)
      .setMaxValue(ZOOM_LIMITS.maxZoom),
  )
  .addStringOption((o) =>
    o
      .setName('intensity')
      .setDescription('How much each frame dreams (default medium)')
      .addChoices(...INTENSITIES.map((i) => ({ name: `${i}: ${ZOOM_PRESETS[i].octaves} octaves × ${ZOOM_PRESETS[i].steps} steps a frame`, value: i }))),
  )
  .addIntegerOption((o) => o.setName('seed').setDescription('Same image + same seed = same animation').setMinValue(0).setMaxValue(MAX_SEED));

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
