import type { MessageMenuCommand, SlashCommand } from '../src/bot/context.ts';
import * as dream from './dream.ts';
import * as dreamContext from './dream-context.ts';
import * as styles from './styles.ts';

export const slashCommands: SlashCommand[] = [dream, styles];
export const messageMenuCommands: MessageMenuCommand[] = [dreamContext];

/** The payloads `npm run deploy-commands` registers. */
export function commandPayloads() {
  return [...slashCommands, ...messageMenuCommands].map((c) => c.data.toJSON());
}
