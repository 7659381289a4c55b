import { MessageFlags, type Interaction } from 'discord.js';
import { messagesFor } from '../../i18n/index.ts';
import type { Commands } from '../command-loader.ts';
import type { BotContext } from '../context.ts';
import { handleButton } from './buttons.ts';

/** Sends an interaction to its command or button handler; while stopping, says so instead. */
export async function routeInteraction(interaction: Interaction, commands: Commands, ctx: BotContext, stopping: boolean): Promise<void> {
  if (interaction.isAutocomplete()) {
    await commands.slash.get(interaction.commandName)?.autocomplete?.(interaction, ctx);
    return;
  }
  if (stopping && interaction.isRepliable()) {
    await interaction.reply({ content: messagesFor(interaction.locale).refusals.restarting, flags: MessageFlags.Ephemeral });
    return;
  }
  if (interaction.isChatInputCommand()) await commands.slash.get(interaction.commandName)?.execute(interaction, ctx);
  else if (interaction.isMessageContextMenuCommand()) await commands.messageMenu.get(interaction.commandName)?.execute(interaction, ctx);
  else if (interaction.isButton()) await handleButton(interaction, ctx);
}

/** A handler threw: log it and give the user a plain sentence instead of "The application did not respond". */
export async function failSafe(interaction: Interaction, err: Error, ctx: BotContext): Promise<void> {
  ctx.log.error({ err, interaction: interaction.id, shard: interaction.guild?.shardId }, 'interaction handler failed');
  if (!interaction.isRepliable()) return;
  const content = messagesFor(interaction.locale).refusals.handlerFailed;
  await (interaction.deferred || interaction.replied ? interaction.followUp({ content, flags: MessageFlags.Ephemeral }) : interaction.reply({ content, flags: MessageFlags.Ephemeral })).catch(() => undefined);
}
