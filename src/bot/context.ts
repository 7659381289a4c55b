import type { AutocompleteInteraction, ChatInputCommandInteraction, MessageContextMenuCommandInteraction, RESTPostAPIApplicationCommandsJSONBody } from 'discord.js';
import type { Logger } from 'pino';
import type { BotConfig } from '../config.ts';
import type { Community } from './community.ts';
import type { DreamRequests } from './requests.ts';

/** What command handlers get: the dream requests and settings, nothing of the client's internals. */
export interface BotContext {
  config: BotConfig;
  dreams: DreamRequests;
  log: Logger;
  /** Server settings (/settings), daily limits (/quota) and history. */
  community: Community;
}

export interface SlashCommand {
  data: { name: string; toJSON(): RESTPostAPIApplicationCommandsJSONBody };
  execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void>;
  /** Suggestions for options marked autocomplete; answer within 3 s. */
  autocomplete?(interaction: AutocompleteInteraction, ctx: BotContext): Promise<void>;
}

export interface MessageMenuCommand {
  data: { name: string; toJSON(): RESTPostAPIApplicationCommandsJSONBody };
  execute(interaction: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void>;
}

export type Command = SlashCommand | MessageMenuCommand;
