import { ApplicationCommandType, ContextMenuCommandBuilder, type MessageContextMenuCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import type { BotContext } from '../src/bot/context.ts';
import { firstImageOf, interactionAddress } from '../src/jobs/index.ts';

/** "Dream" in a message's Apps menu: dreams the message's first image at the default intensity. */
export const data = new ContextMenuCommandBuilder().setName('Dream').setType(ApplicationCommandType.Message);

export async function execute(interaction: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void> {
  const source = firstImageOf(interaction.targetMessage);
  if (!(await acceptImages(interaction, ctx.config, [{ ref: source, missing: 'That message has no image I can dream.' }])) || !source) return;
  await ctx.dreams.handle({ userId: interaction.user.id, source, overrides: {}, reply: interactionAddress(interaction) });
}
