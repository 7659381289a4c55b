// A bot that reserves a member's slot and then hangs before adding the job (a test SIGKILLs it there), as a bot
// killed between reserve and add would. Usage: tsx reserve-and-die.ts <redisUrl> <userId> <ttlMs>
import pino from 'pino';
import { RedisQueue } from '../../src/queue/index.ts';

const [url, userId, ttl] = process.argv.slice(2);
const queue = await RedisQueue.start<unknown, unknown>(
  url,
  { concurrency: 1, maxQueue: 10, maxPerUser: 1 },
  {
    onPosition: (job) => {
      process.stdout.write(`reserved ${job.id}\n`);
      return new Promise<void>(() => undefined);
    },
    onEnd: () => undefined,
  },
  pino({ level: 'silent' }),
  { reservationTtlMs: Number(ttl) },
);
void queue.submit({ userId, data: {} });
