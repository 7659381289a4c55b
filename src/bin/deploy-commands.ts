import { REST, Routes } from 'discord.js';
import { loadCommands } from '../bot/command-loader.ts';
import { deployConfig } from '../config.ts';
import { runMain } from './exit.ts';

/**
 * `npm run deploy-commands`: registers the commands in commands/. With DISCORD_GUILD_ID they appear in that server
 * at once; without it they are global (Discord may take a while to show them).
 */
runMain('deploy-commands', async () => {
  const config = deployConfig();
  const rest = new REST(config.discordApi ? { api: config.discordApi } : {}).setToken(config.token);
  const body = (await loadCommands()).payloads();
  const route = config.guildId ? Routes.applicationGuildCommands(config.clientId, config.guildId) : Routes.applicationCommands(config.clientId);
  const saved = (await rest.put(route, { body })) as { name: string }[];
  process.stdout.write(`Registered ${saved.map((c) => c.name).join(', ')} ${config.guildId ? `in guild ${config.guildId}` : 'globally'}.\n`);
  return 0;
});
