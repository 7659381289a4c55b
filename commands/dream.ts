import { MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.ts';
import { attachmentRef, precheck } from '../src/bot/image-source.ts';
import { interactionAddress } from '../src/bot/reply-target.ts';
import { INTENSITIES, isIntensity, isLayerPreset, LAYER_PRESETS, PRESETS } from '../src/engine/presets.ts';

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
  .addIntegerOption((o) => o.setName('seed').setDescription('Same image + same seed = same dream').setMinValue(0).setMaxValue(MAX_SEED));

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const source = attachmentRef(interaction.options.getAttachment('image', true));
  // Refusals that need no download are answered at once, privately.
  const refusal = precheck(source, ctx.config);
  if (refusal) {
    await interaction.reply({ content: refusal, flags: MessageFlags.Ephemeral });
    return;
  }
  await interaction.deferReply();
  const intensity = interaction.options.getString('intensity');
  const layers = interaction.options.getString('layers');
  await ctx.dreams.handle({
    userId: interaction.user.id,
    source,
    overrides: {
      intensity: intensity && isIntensity(intensity) ? intensity : undefined,
      layers: layers && isLayerPreset(layers) ? [...LAYER_PRESETS[layers].layers] : undefined,
      seed: interaction.options.getInteger('seed') ?? undefined,
    },
    reply: interactionAddress(interaction),
  });
}
