import { SlashCommandBuilder, type AutocompleteInteraction, type ChatInputCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import type { BotContext } from '../src/bot/context.ts';
import { withWords } from '../src/bot/localize.ts';
import { explainClasses, listStyles, type ExplainClass } from '../src/engine/index.ts';
import { className, messagesFor, synsetNamed } from '../src/i18n/index.ts';
import { attachmentRef, interactionAddress } from '../src/jobs/index.ts';

/** `/explain`: what the ImageNet classifier (or a trained style) sees in a picture, and where. */
export const data = withWords(new SlashCommandBuilder(), (t) => t.commands.explain)
  .addAttachmentOption((o) => withWords(o, (t) => t.commands.explain.options.image).setRequired(true))
  .addStringOption((o) => withWords(o, (t) => t.commands.explain.options.target).setAutocomplete(true))
  .addStringOption((o) => withWords(o, (t) => t.commands.explain.options.style).setAutocomplete(true));

/** Classes of a model, read once per model (they never change while the bot runs). */
const classCache = new Map<string, Promise<ExplainClass[]>>();
function classesOf(model: string | undefined, stylesDir: string): Promise<ExplainClass[]> {
  const key = model ?? '';
  let classes = classCache.get(key);
  if (!classes) {
    classes = explainClasses(model, { stylesDir });
    classCache.set(key, classes);
    classes.catch(() => classCache.delete(key));
  }
  return classes;
}

/**
 * Suggests installed styles, and labels (the 1000 ImageNet ones, or the chosen style's classes) while typing: in the
 * member's language with the label beside it ("ポンチョ（poncho）"), matched in either; the value is the label.
 */
export async function autocomplete(interaction: AutocompleteInteraction, ctx: BotContext): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const typed = String(focused.value).toLowerCase();
  const t = messagesFor(interaction.locale);
  let choices: { name: string; value: string; words: string[] }[];
  if (focused.name === 'style') choices = (await listStyles(ctx.config.stylesDir)).map((s) => ({ name: s.name, value: s.name, words: [s.name] }));
  else {
    const classes = await classesOf(interaction.options.getString('style') ?? undefined, ctx.config.stylesDir).catch(() => []);
    choices = classes.map((c) => {
      const shown = className(t, c);
      return { name: shown === c.label ? c.label : `${shown}（${c.label}）`, value: c.label, words: [shown, c.label] };
    });
  }
  // Names that start with what was typed first, then those that contain it.
  const starts = choices.filter((c) => c.words.some((w) => w.toLowerCase().startsWith(typed)));
  const contains = choices.filter((c) => !starts.includes(c) && c.words.some((w) => w.toLowerCase().includes(typed)));
  await interaction.respond([...starts, ...contains].slice(0, 25).map((c) => ({ name: c.name.slice(0, 100), value: c.value.slice(0, 100) })));
}

/** A target typed as a class's name in another language ("ポンチョ") becomes the classifier's label ("poncho"). */
async function labelFor(target: string | null, style: string | undefined, stylesDir: string): Promise<string | undefined> {
  if (target === null) return undefined;
  const synset = style ? undefined : synsetNamed(target);
  if (!synset) return target;
  const classes = await classesOf(undefined, stylesDir).catch(() => []);
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
