import { botConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { startWorker } from './compose.ts';
import { runMain } from './exit.ts';

/**
 * `npm run worker`: takes dreams from the Redis queue and runs them on this machine (its own backend and
 * DREAM_CONCURRENCY worker threads), posting progress and results over Discord's REST API. A worker that dies
 * mid-job loses its lock; BullMQ gives the job to another worker once, then fails it (the bot tells the member).
 */
runMain('deepdream-worker', async () => {
  const config = botConfig(process.env, 'worker');
  const log = createLogger(config.logLevel, [config.token]).child({ worker: process.pid });
  const worker = await startWorker(config, log);
  const stop = async (signal: string) => {
    log.info({ signal }, 'finishing the running dreams, then stopping');
    await worker.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
});
