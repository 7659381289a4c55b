import { DiscordAPIError, MessageFlags, PermissionFlagsBits, RESTJSONErrorCodes, type ButtonInteraction } from 'discord.js';
import type { Catalog } from '../../i18n/index.ts';

/**
 * A result's 🗑 Delete button: its requester (named on the button) or a member who may manage messages in that
 * channel deletes the bot's message; anyone else gets one private sentence. The message goes through the button's
 * own interaction (its webhook), so no channel permission of the bot's is needed.
 */
export async function deleteResult(interaction: ButtonInteraction, requesterId: string, t: Catalog): Promise<void> {
  const moderator = interaction.memberPermissions?.has(PermissionFlagsBits.ManageMessages) ?? false;
  if (interaction.user.id !== requesterId && !moderator) {
    await interaction.reply({ content: t.refusals.notYourResult, flags: MessageFlags.Ephemeral });
    return;
  }
  await interaction.deferUpdate();
  await interaction.deleteReply().catch((err: unknown) => {
    // Two clicks at once (or a moderator just before): the message is gone already, which is what was asked.
    if (err instanceof DiscordAPIError && err.code === RESTJSONErrorCodes.UnknownMessage) return;
    throw err;
  });
}
