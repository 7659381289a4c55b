import type { DreamBot } from '../bot/app.ts';
import { botConfig } from '../config.ts';
import { isUserError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { startBot } from './compose.ts';
import { runMain } from './exit.ts';

/** `npm start`: configuration errors and a rejected token end in one readable line and exit code 1. */
runMain('deepdream-bot', async () => {
  const config = botConfig();
  const log = createLogger(config.logLevel, [config.token]);
  let bot: DreamBot;
  try {
    bot = await startBot(config, log);
  } catch (err) {
    if (!isUserError(err)) log.error({ err }, 'start-up failed');
    throw err;
  }
  const shutdown = (signal: string) => {
    log.info({ signal }, 'signal received');
    bot.stop().then(
      () => process.exit(0),
      (err: Error) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
});
