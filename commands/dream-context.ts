import { ApplicationCommandType, ContextMenuCommandBuilder, type MessageContextMenuCommandInteraction } from 'discord.js';
import { acceptImages } from '../src/bot/accept.ts';
import type { BotContext } from '../src/bot/context.ts';
import { localized } from '../src/bot/localize.ts';
import { english } from '../src/i18n/index.ts';
import { firstImageOf, interactionAddress } from '../src/jobs/index.ts';

/** "Dream" in a message's Apps menu: dreams the message's first image at the default intensity. */
export const data = new ContextMenuCommandBuilder()
  .setName(english.commands.dreamMenu)
  .setNameLocalizations(localized((t) => t.commands.dreamMenu))
  .setType(ApplicationCommandType.Message);

export async function execute(interaction: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void> {
  const source = firstImageOf(interaction.targetMessage);
  if (!(await acceptImages(interaction, ctx.config, [{ ref: source, missing: (t) => t.refusals.noImageToDream }])) || !source) return;
  await ctx.dreams.handle({ userId: interaction.user.id, source, overrides: {}, reply: interactionAddress(interaction) });
}
