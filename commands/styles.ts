import { EmbedBuilder, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.ts';
import { withWords } from '../src/bot/localize.ts';
import { listStyles } from '../src/engine/index.ts';
import { messagesFor } from '../src/i18n/index.ts';

const validDate = (s: string) => (Number.isNaN(Date.parse(s)) ? undefined : new Date(s));

/** `/styles`: the nightmare styles trained for this bot, with their classes and validation accuracy. */
export const data = withWords(new SlashCommandBuilder(), (t) => t.commands.styles);

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const t = messagesFor(interaction.locale).styles;
  const styles = await listStyles(ctx.config.stylesDir);
  if (styles.length === 0) {
    await interaction.reply(t.none);
    return;
  }
  const embed = new EmbedBuilder()
    .setTitle(t.title)
    .setDescription(t.description)
    .setColor(0x7b2fbe)
    .addFields(styles.slice(0, 25).map((s) => ({ name: s.name, value: t.entry({ classes: s.classes, accuracy: s.valAccuracy, trained: validDate(s.date), fineTuned: s.fineTuned }) })));
  await interaction.reply({ embeds: [embed] });
}
