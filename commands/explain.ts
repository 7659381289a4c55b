import { SlashCommandBuilder, type AutocompleteInteraction, type ChatInputCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import type { BotContext } from '../src/bot/context.ts';
import { withWords } from '../src/bot/localize.ts';
import { classChoices, matching } from '../src/bot/class-choices.ts';
import { listStyles } from '../src/engine/index.ts';
import { messagesFor, synsetNamed } from '../src/i18n/index.ts';
import { attachmentRef, classesOf, interactionAddress } from '../src/jobs/index.ts';

/** `/explain`: what the ImageNet classifier (or a trained style) sees in a picture, and where. */
export const data = withWords(new SlashCommandBuilder(), (t) => t.commands.explain)
  .addAttachmentOption((o) => withWords(o, (t) => t.commands.explain.options.image).setRequired(true))
  .addStringOption((o) => withWords(o, (t) => t.commands.explain.options.target).setAutocomplete(true))
  .addStringOption((o) => withWords(o, (t) => t.commands.explain.options.style).setAutocomplete(true));

/**
 * Suggests installed styles, and labels (the 1000 ImageNet ones, or the chosen style's classes) while typing: in the
 * member's language with the label beside it ("ポンチョ（poncho）"), matched in either; the value is the label.
 */
export async function autocomplete(interaction: AutocompleteInteraction, ctx: BotContext): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const t = messagesFor(interaction.locale);
  const choices =
    focused.name === 'style'
      ? (await listStyles(ctx.config.stylesDir)).map((s) => ({ name: s.name, value: s.name, words: [s.name] }))
      : await classChoices(t, interaction.options.getString('style') ?? undefined, ctx.config.stylesDir);
  await interaction.respond(matching(choices, String(focused.value)));
}

/** A target typed as a class's name in another language ("ポンチョ") becomes the classifier's label ("poncho"). */
async function labelFor(target: string | null, style: string | undefined, stylesDir: string): Promise<string | undefined> {
  if (target === null) return undefined;
  const synset = style ? undefined : synsetNamed(target);
  if (!synset) return target;
  const classes = await classesOf(undefined, stylesDir);
  return classes.find((c) => c.synset === synset)?.label ?? target;
}

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const source = attachmentRef(interaction.options.getAttachment('image', true));
  if (!(await acceptImages(interaction, ctx.config, [{ ref: source }]))) return;
  const style = interaction.options.getString('style') ?? undefined;
  await ctx.dreams.explain({
    userId: interaction.user.id,
    sources: [source],
    target: await labelFor(interaction.options.getString('target'), style, ctx.config.stylesDir),
    style,
    reply: interactionAddress(interaction),
  });
}
