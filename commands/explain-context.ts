import { ApplicationCommandType, ContextMenuCommandBuilder, MessageFlags, type MessageContextMenuCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.ts';
import { firstImageOf, interactionAddress, precheck } from '../src/jobs/index.ts';

/** "Explain" in a message's Apps menu: what the classifier sees in the message's first image, and where. */
export const data = new ContextMenuCommandBuilder().setName('Explain').setType(ApplicationCommandType.Message);

export async function execute(interaction: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void> {
  const source = firstImageOf(interaction.targetMessage);
  const refusal = source ? precheck(source, ctx.config) : 'That message has no image I can explain.';
  if (refusal || !source) {
    await interaction.reply({ content: refusal ?? '', flags: MessageFlags.Ephemeral });
    return;
  }
  await interaction.deferReply();
  await ctx.dreams.explain({ userId: interaction.user.id, sources: [source], reply: interactionAddress(interaction) });
}
