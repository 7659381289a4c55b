// A bot that reserves members' slots and then hangs before adding their jobs (a test SIGKILLs it there), as a bot
// killed between reserve and add would. Usage: tsx reserve-and-die.ts <redisUrl> <userId>:<ttlMs> [<userId>:<ttlMs> ...]
// (one reservation per member, each with its own deadline). Prints "reserved <userId> <jobId>" for each.
import pino from 'pino';
import { RedisQueue } from '../../src/queue/index.ts';

const [url, ...reservations] = process.argv.slice(2);
for (const reservation of reservations) {
  const [userId, ttl] = reservation.split(':');
  const queue = await RedisQueue.start<unknown, unknown>(
    url,
    { concurrency: 1, maxQueue: 10, maxPerUser: 1 },
    {
      onPosition: (job) => {
        process.stdout.write(`reserved ${userId} ${job.id}\n`);
        return new Promise<void>(() => undefined);
      },
      onEnd: () => undefined,
    },
    pino({ level: 'silent' }),
    { reservationTtlMs: Number(ttl) },
  );
  void queue.submit({ userId, data: {} });
}
