import { REST, Routes } from 'discord.js';
import { commandPayloads } from '../../commands/index.ts';
import { ConfigError } from '../config.ts';
import 'dotenv/config';

/**
 * `npm run deploy-commands`: registers /dream and the "Dream" message command. With DISCORD_GUILD_ID they
 * appear in that server at once; without it they are global (Discord may take a while to show them).
 */
async function main(): Promise<void> {
  const token = process.env.DISCORD_TOKEN?.trim();
  const clientId = process.env.DISCORD_CLIENT_ID?.trim();
  const guildId = process.env.DISCORD_GUILD_ID?.trim() || undefined;
  if (!token || !clientId) throw new ConfigError('DISCORD_TOKEN and DISCORD_CLIENT_ID must be set (see .env.example).');
  const rest = new REST(process.env.DISCORD_API ? { api: process.env.DISCORD_API } : {}).setToken(token);
  const body = commandPayloads();
  const route = guildId ? Routes.applicationGuildCommands(clientId, guildId) : Routes.applicationCommands(clientId);
  const saved = (await rest.put(route, { body })) as { name: string }[];
  process.stdout.write(`Registered ${saved.map((c) => c.name).join(', ')} ${guildId ? `in guild ${guildId}` : 'globally'}.\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`deploy-commands: ${err.message.split('\n')[0]}\n`);
  process.exit(1);
});
