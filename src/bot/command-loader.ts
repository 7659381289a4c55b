import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ApplicationCommandType } from 'discord.js';
import type { Command, MessageMenuCommand, SlashCommand } from './context.ts';

/** The project's commands/ folder: one module per command, each exporting `data` and `execute`. */
export const COMMANDS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../commands');

export interface Commands {
  slash: Map<string, SlashCommand>;
  messageMenu: Map<string, MessageMenuCommand>;
  /** What `npm run deploy-commands` registers. */
  payloads(): ReturnType<Command['data']['toJSON']>[];
}

const isCommand = (m: Partial<Command>): m is Command => typeof m.execute === 'function' && typeof m.data?.toJSON === 'function';

/** Loads every command module in `dir`, as the discord.js guide does, so the bot never imports a command by name. */
export async function loadCommands(dir = COMMANDS_DIR): Promise<Commands> {
  const files = (await readdir(dir)).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).sort();
  const slash = new Map<string, SlashCommand>();
  const messageMenu = new Map<string, MessageMenuCommand>();
  for (const file of files) {
    const mod = (await import(pathToFileURL(path.join(dir, file)).href)) as Partial<Command>;
    if (!isCommand(mod)) throw new Error(`commands/${file} must export "data" and "execute".`);
    const type = (mod.data.toJSON() as { type?: ApplicationCommandType }).type;
    if (type === ApplicationCommandType.Message) messageMenu.set(mod.data.name, mod as MessageMenuCommand);
    else slash.set(mod.data.name, mod as SlashCommand);
  }
  return { slash, messageMenu, payloads: () => [...slash.values(), ...messageMenu.values()].map((c) => c.data.toJSON()) };
}
