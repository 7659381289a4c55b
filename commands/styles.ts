import { EmbedBuilder, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.ts';
import { listStyles } from '../src/engine/index.ts';

/** `/styles`: the nightmare styles trained for this bot, with their classes and validation accuracy. */
export const data = new SlashCommandBuilder().setName('styles').setDescription('List the custom nightmare styles you can dream with');

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const styles = await listStyles(ctx.config.stylesDir);
  if (styles.length === 0) {
    await interaction.reply('No custom styles yet. Whoever runs the bot can train one on a folder of photos with `npm run train` (see the README).');
    return;
  }
  const embed = new EmbedBuilder()
    .setTitle('Nightmare styles')
    .setDescription('Use one with `/dream image:… style:<name> target:<class>`.')
    .setColor(0x7b2fbe)
    .addFields(
      styles.slice(0, 25).map((s) => ({
        name: s.name,
        value: `classes: ${s.classes.join(', ')}\nvalidation accuracy: ${(s.valAccuracy * 100).toFixed(0)}% · trained ${s.date.slice(0, 10)}`,
      })),
    );
  await interaction.reply({ embeds: [embed] });
}
