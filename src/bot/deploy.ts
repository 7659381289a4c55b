import { REST, Routes } from 'discord.js';
import type { DeployConfig } from '../config.ts';
import { loadCommands } from './command-loader.ts';

/**
 * Registers the commands in commands/ (with their localizations): in `config.guildId` at once, else globally.
 * Returns the line `npm run deploy-commands` prints.
 */
export async function deployCommands(config: DeployConfig): Promise<string> {
  const rest = new REST(config.discordApi ? { api: config.discordApi } : {}).setToken(config.token);
  const body = (await loadCommands()).payloads();
  const route = config.guildId ? Routes.applicationGuildCommands(config.clientId, config.guildId) : Routes.applicationCommands(config.clientId);
  const saved = (await rest.put(route, { body })) as { name: string }[];
  return `Registered ${saved.map((c) => c.name).join(', ')} ${config.guildId ? `in guild ${config.guildId}` : 'globally'}.\n`;
}
