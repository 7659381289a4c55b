import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhotoLike } from './helpers/images.ts';
import { resultOf, ScaledOut } from './helpers/scaled-out.ts';

// `npm run worker` end to end with the real engine, behind a bot and Redis (the queue's behaviour across processes,
// on fake workers, is test/redis-queue.test.ts).

describe('scaled out with the real engine', () => {
  const d = new ScaledOut();
  beforeAll(() => d.start());
  afterAll(() => d.stop());

  it('a real dream through `npm run worker`: the engine runs in the worker process, the member gets the picture', async () => {
    const w = d.startWorker('real');
    await d.ready(w);
    expect(w.log).not.toMatch(/fake runner/);
    const doneBefore = await d.metric('done');
    const i = d.ask(await makePhotoLike(120, 90, 'png'), 'low');
    await d.fake.waitForRequest(resultOf(i), { fromIndex: 0, timeoutMs: 120_000 });
    expect(w.started).toHaveLength(1);
    await expect.poll(() => d.metric('done'), { timeout: 10_000 }).toBe(doneBefore + 1);
    await expect.poll(async () => (await d.slots().all()).owners, { timeout: 5000 }).toEqual({});
    // SIGTERM: it finishes what runs (nothing now) and exits cleanly.
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });
});
