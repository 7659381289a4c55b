import { SlashCommandBuilder, type AutocompleteInteraction, type ChatInputCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import type { BotContext } from '../src/bot/context.ts';
import { withWords } from '../src/bot/localize.ts';
import { explainLabels, listStyles } from '../src/engine/index.ts';
import { attachmentRef, interactionAddress } from '../src/jobs/index.ts';

/** `/explain`: what the ImageNet classifier (or a trained style) sees in a picture, and where. */
export const data = withWords(new SlashCommandBuilder(), (t) => t.commands.explain)
  .addAttachmentOption((o) => withWords(o, (t) => t.commands.explain.options.image).setRequired(true))
  .addStringOption((o) => withWords(o, (t) => t.commands.explain.options.target).setAutocomplete(true))
  .addStringOption((o) => withWords(o, (t) => t.commands.explain.options.style).setAutocomplete(true));

/** Labels of a model, read once per model (they never change while the bot runs). */
const labelCache = new Map<string, Promise<string[]>>();
function labelsOf(model: string | undefined, stylesDir: string): Promise<string[]> {
  const key = model ?? '';
  let labels = labelCache.get(key);
  if (!labels) {
    labels = explainLabels(model, { stylesDir });
    labelCache.set(key, labels);
    labels.catch(() => labelCache.delete(key));
  }
  return labels;
}

/** Suggests installed styles, and labels (the 1000 ImageNet ones, or the chosen style's classes) while typing. */
export async function autocomplete(interaction: AutocompleteInteraction, ctx: BotContext): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const typed = String(focused.value).toLowerCase();
  let names: string[];
  if (focused.name === 'style') names = (await listStyles(ctx.config.stylesDir)).map((s) => s.name);
  else names = await labelsOf(interaction.options.getString('style') ?? undefined, ctx.config.stylesDir).catch(() => []);
  // Labels that start with what was typed first, then those that contain it.
  const starts = names.filter((n) => n.toLowerCase().startsWith(typed));
  const contains = names.filter((n) => !n.toLowerCase().startsWith(typed) && n.toLowerCase().includes(typed));
  await interaction.respond([...starts, ...contains].slice(0, 25).map((n) => ({ name: n.slice(0, 100), value: n.slice(0, 100) })));
}

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const source = attachmentRef(interaction.options.getAttachment('image', true));
  if (!(await acceptImages(interaction, ctx.config, [{ ref: source }]))) return;
  await ctx.dreams.explain({
    userId: interaction.user.id,
    sources: [source],
    target: interaction.options.getString('target') ?? undefined,
    style: interaction.options.getString('style') ?? undefined,
    reply: interactionAddress(interaction),
  });
}
