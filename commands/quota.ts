import { InteractionContextType, MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.ts';
import { withWords } from '../src/bot/localize.ts';
import { messagesFor } from '../src/i18n/index.ts';

/** `/quota`: the member's dreams left today in this server, and when the day starts over (00:00 UTC), privately. */
export const data = withWords(new SlashCommandBuilder(), (t) => t.community.commands.quota).setContexts(InteractionContextType.Guild);

export async function execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const t = messagesFor(interaction.locale);
  if (!interaction.guildId) {
    await interaction.reply({ content: t.community.serversOnly, flags: MessageFlags.Ephemeral });
    return;
  }
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  try {
    const { store } = ctx.community;
    const settings = await store.settings(interaction.guildId);
    const quota = await store.quota(interaction.guildId, interaction.user.id, settings.dailyLimit);
    await interaction.editReply({ content: t.community.quota({ ...quota, resetsAt: new Date(quota.resetsAt) }) });
  } catch (err) {
    ctx.log.warn({ err }, 'could not read a quota: the database is unavailable');
    await interaction.editReply({ content: t.community.unavailable });
  }
}
