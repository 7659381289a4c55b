import pino from 'pino';
import type { DreamBot } from '../../src/bot/app.ts';
import { startBot } from '../../src/bin/compose.ts';
import type { DreamRunner } from '../../src/runner/index.ts';
import { fakeBotConfig } from './bot-config.ts';
import type { FakeDiscord } from './fake-discord.ts';

/** The bot as `npm start` composes it, pointed at the fake Discord, with `runner` in place of the worker pool if given. */
export function startTestBot(fake: FakeDiscord, env: Record<string, string> = {}, runner?: DreamRunner): Promise<DreamBot> {
  return startBot(fakeBotConfig(fake, env), pino({ level: 'silent' }), { runner });
}
