import { ApplicationCommandType, ContextMenuCommandBuilder, type MessageContextMenuCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import type { BotContext } from '../src/bot/context.ts';
import { localized } from '../src/bot/localize.ts';
import { english } from '../src/i18n/index.ts';
import { firstImageOf, interactionAddress } from '../src/jobs/index.ts';

/** "Explain" in a message's Apps menu: what the classifier sees in the message's first image, and where. */
export const data = new ContextMenuCommandBuilder()
  .setName(english.commands.explainMenu)
  .setNameLocalizations(localized((t) => t.commands.explainMenu))
  .setType(ApplicationCommandType.Message);

export async function execute(interaction: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void> {
  const source = firstImageOf(interaction.targetMessage);
  if (!(await acceptImages(interaction, ctx.config, [{ ref: source, missing: (t) => t.refusals.noImageToExplain }])) || !source) return;
  await ctx.dreams.explain({ userId: interaction.user.id, sources: [source], reply: interactionAddress(interaction) });
}
