import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';

const PREFIX = 'deepdream:turns:';

/**
 * Turns that hold across processes and machines: one taker per key per window (Redis SET NX PX), the next one when
 * the window has passed. When Redis cannot be asked, the taker waits one window and goes: a paced guess is better
 * than a stall.
 */
export class RedisTurns {
  constructor(private readonly redis: Redis) {}

  async take(key: string, windowMs: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      let waitMs: number;
      try {
        if ((await this.redis.set(PREFIX + key, '1', 'PX', windowMs, 'NX')) === 'OK') return;
        waitMs = await this.redis.pttl(PREFIX + key);
      } catch {
        await sleep(windowMs, undefined, { signal });
        return;
      }
      await sleep(Math.max(25, waitMs), undefined, { signal });
    }
  }
}
