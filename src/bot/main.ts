import { botConfig, ConfigError } from '../config.ts';
import { createLogger } from '../log.ts';
import { DreamBot, TokenRejectedError } from './app.ts';

/** `npm start`: configuration errors and a rejected token end in one readable line and exit code 1. */
async function main(): Promise<void> {
  let config;
  try {
    config = botConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`deepdream-bot: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel, [config.token]);
  let bot: DreamBot;
  try {
    bot = await DreamBot.start({ config, log });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (!(err instanceof TokenRejectedError)) log.error({ err }, 'start-up failed');
    process.stderr.write(`deepdream-bot: ${message.split('\n')[0]}\n`);
    process.exit(1);
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
}

void main();
