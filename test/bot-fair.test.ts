import type { APIUser } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord, member, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner, Gate } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { isOriginalEdit, text } from './helpers/requests.ts';

/** Fair turns as members see them in Discord, on the memory queue (Redis: test/redis-fair.test.ts). */
describe('fair turns in Discord (memory queue, fake runner)', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let runner: FakeRunner;
  let photo: Buffer;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(64, 48, 'png');
    runner = new FakeRunner({ msPerMegapixel: 0, msPerFrame: 0 });
    bot = await startTestBot(fake, { DREAM_MAX_SIDE: '128', DREAM_CONCURRENCY: '1', MAX_JOBS_PER_USER: '3', STATUS_EDIT_INTERVAL_MS: '20' }, runner);
  });
  afterAll(async () => {
    runner.release();
    await bot?.stop();
    await fake?.close();
  });

  /** The place a job's message shows last, once it shows `position`. */
  const shows = (i: { token: string }, position: number) =>
    fake.waitForRequest((r: RecordedRequest) => isOriginalEdit(i)(r) && new RegExp(`position ${position} `).test(text(r)), { fromIndex: 0, timeoutMs: 10_000 });
  const lastPlace = (i: { token: string }) => {
    const edits = fake.requests.filter((r) => isOriginalEdit(i)(r) && /position \d+/.test(text(r)));
    return Number(/position (\d+)/.exec(text(edits.at(-1)!))![1]);
  };

  it('three dreams from A then one from B: B\'s runs second, and the places shown match the order they run in', async () => {
    const gate = new Gate();
    const heldNow = () => new Promise<void>((resolve) => (gate.onHeld = resolve));
    runner.gate = gate;
    const [alice, bob] = [member('alice'), member('bob')];
    const dream = (user: APIUser, seed: number) => fake.dispatchInteraction(fake.chatInput({ name: 'dream', user, options: { intensity: 'low', seed }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    const firstHeld = heldNow();
    const a1 = dream(alice, 1);
    await firstHeld; // a1 runs, held at the gate
    const a2 = dream(alice, 2);
    await shows(a2, 1);
    const a3 = dream(alice, 3);
    await shows(a3, 2);
    const b1 = dream(bob, 4);
    // B's first dream goes ahead of A's second and third; their messages say so.
    await Promise.all([shows(b1, 1), shows(a2, 2), shows(a3, 3)]);
    const seedOf = new Map([[a2.token, 2], [a3.token, 3], [b1.token, 4]]);
    const promised = [a2, a3, b1].sort((x, y) => lastPlace(x) - lastPlace(y)).map((i) => seedOf.get(i.token));
    for (let n = 0; n < 3; n++) {
      const next = heldNow();
      gate.release();
      await next;
    }
    gate.open();
    await fake.waitForRequest((r) => isOriginalEdit(a3)(r) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 10_000 });
    expect(runner.inputs.map((input) => input.params.seed)).toEqual([1, 4, 2, 3]);
    expect([1, ...promised]).toEqual([1, 4, 2, 3]);
    expect(fake.requests.some((r) => isOriginalEdit(a1)(r) && r.files.some((f) => f.filename.startsWith('dream-')))).toBe(true);
  });
});
