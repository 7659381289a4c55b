import { SlashCommandBuilder, type AutocompleteInteraction, type ChatInputCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import { classChoices, matching } from '../src/bot/class-choices.ts';
import { channelChoices } from '../src/bot/grow-choices.ts';
import type { BotContext } from '../src/bot/context.ts';
import { choice, withWords } from '../src/bot/localize.ts';
import { INTENSITIES, isIntensity, ZOOM_DEFAULTS, ZOOM_LIMITS, ZOOM_PRESETS } from '../src/engine/index.ts';
import { messagesFor, type Catalog } from '../src/i18n/index.ts';
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
  .addIntegerOption((o) => withWords(o, (t) => words(t).seed).setMinValue(0).setMaxValue(MAX_SEED))
  .addStringOption((o) => withWords(o, (t) => words(t).target).setAutocomplete(true))
  .addStringOption((o) => withWords(o, (t) => words(t).channel).setAutocomplete(true).setMaxLength(40))
  .addBooleanOption((o) => withWords(o, (t) => words(t).soft));

/** The 1000 ImageNet labels in the member's language for `target`; striking channels for `channel`. */
export async function autocomplete(interaction: AutocompleteInteraction, ctx: BotContext): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const typed = String(focused.value);
  const t = messagesFor(interaction.locale);
  const choices = focused.name === 'channel' ? channelChoices(t, typed) : await classChoices(t, undefined, ctx.config.stylesDir);
  await interaction.respond(matching(choices, typed));
}

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
      target: interaction.options.getString('target') ?? undefined,
      layers: interaction.options.getString('channel')?.split(',') ?? undefined,
      soft: interaction.options.getBoolean('soft') ?? undefined,
    },
    reply: interactionAddress(interaction),
  });
}
