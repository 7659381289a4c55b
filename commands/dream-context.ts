import { ApplicationCommandType, ContextMenuCommandBuilder, MessageFlags, type MessageContextMenuCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.ts';
import { firstImageOf, interactionAddress, precheck } from '../src/jobs/index.ts';

/** "Dream" in a message's Apps menu: dreams the message's first image at the default intensity. */
export const data = new ContextMenuCommandBuilder().setName('Dream').setType(ApplicationCommandType.Message);

export async function execute(interaction: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void> {
  const source = firstImageOf(interaction.targetMessage);
  const refusal = source ? precheck(source, ctx.config) : 'That message has no image I can dream.';
  if (refusal || !source) {
    await interaction.reply({ content: refusal ?? '', flags: MessageFlags.Ephemeral });
    return;
  }
  await interaction.deferReply();
  await ctx.dreams.handle({ userId: interaction.user.id, source, overrides: {}, reply: interactionAddress(interaction) });
}
