import { Writable } from 'node:stream';
import type { APIEmbed } from 'discord.js';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startBot } from '../src/bin/compose.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { fakeBotConfig } from './helpers/bot-config.ts';
import { createLogger } from '../src/log.ts';
import { FakeDiscord, snowflake } from './helpers/fake-discord.ts';
import { makeAnimatedGif, makeBombPng, makePhotoLike, makeSvg, truncate } from './helpers/images.ts';
import { isFollowUp, isOriginalEdit } from './helpers/requests.ts';

const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });

describe('faults and hostile input', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let photo: Buffer;
  let logs = '';
  let runner: FakeRunner;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(160, 120, 'png');
    const config = fakeBotConfig(fake, {
      DREAM_MAX_SIDE: '384',
      MAX_INPUT_PIXELS: '4000000',
      HEALTH_PORT: '0',
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      STATUS_EDIT_INTERVAL_MS: '50',
      // The outage test's result is posted again after 10 ms waits instead of 1, 4 and 15 s (same number of tries).
      OUTCOME_RETRY_DELAYS_MS: '10,10,10',
    });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs += chunk.toString();
        done();
      },
    });
    runner = new FakeRunner({ msPerMegapixel: 0, msPerFrame: 2 }); // 2 ms a step or frame: a job that must keep running is held
    bot = await startBot(config, createLogger('debug', [config.token], sink), { runner });
  });

  // A test that needs a dream to keep running holds the runner; never past the test.
  afterEach(() => runner.release());

  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  async function idle(): Promise<void> {
    await expect.poll(() => bot.queue.snapshot().running + bot.queue.snapshot().waiting, { timeout: 30_000, interval: 20 }).toBe(0);
  }

  function ask(filename: string, bytes: Uint8Array, opts: { contentType?: string; intensity?: string } = {}) {
    return fake.dispatchInteraction(
      fake.chatInput({ name: 'dream', user: member('m'), options: { intensity: opts.intensity ?? 'low' }, attachments: { image: { filename, bytes, contentType: opts.contentType } } }),
    );
  }

  /** The first edit of the job's message with `text` that Discord accepted. */
  const lastEdit = (i: { token: string }, text: RegExp) =>
    fake.waitForRequest((r) => isOriginalEdit(i)(r) && r.status === 200 && text.test(JSON.stringify(r.json)), { fromIndex: 0, timeoutMs: 60_000 });
  const refusalOf = async (i: { token: string }) => ((await fake.waitForRequest(isFollowUp(i), { fromIndex: 0, timeoutMs: 20_000 })).json as { content: string; flags: number });

  it('a worker that dies mid-job: its user gets a clear failure and the next job runs', async () => {
    await idle();
    // The pool's side (a replacement thread) is tested in worker-pool.test.ts; here, what the member sees. The
    // dream is held until the member has seen it start, then its worker dies.
    runner.hold();
    const doomed = ask('a.png', photo, { intensity: 'nightmare' });
    await lastEdit(doomed, /Dreaming/);
    runner.release('crash');
    await lastEdit(doomed, /worker stopped unexpectedly/);
    const next = ask('b.png', photo);
    await lastEdit(next, /your dream is ready/);
  });

  it('a backend error (out of memory) fails the attempt cleanly and retries once at a smaller size', async () => {
    await idle();
    runner.failNext('backend');
    const i = ask('c.png', photo);
    const done = await lastEdit(i, /your dream is ready/);
    const size = (done.json as { embeds: APIEmbed[] }).embeds[0].fields!.find((f) => f.name === 'Size')!.value;
    expect(size).toBe('120×90'); // 3/4 of 160×120
    expect(logs).toMatch(/retrying once at a smaller size/);
  });

  it('a Discord 5xx or 429 on an edit or upload is retried and the result still arrives', async () => {
    await idle();
    const i = ask('d.png', photo);
    fake.failNext({ method: 'PATCH', pathIncludes: i.token }, 502, { times: 2 });
    fake.failNext({ method: 'PATCH', pathIncludes: i.token }, 429, { retryAfterSeconds: 0.05, times: 1 });
    const done = await lastEdit(i, /your dream is ready/);
    expect(done.files.some((f) => f.filename.startsWith('dream-'))).toBe(true);
    const statuses = fake.requests.filter((r) => r.method === 'PATCH' && r.path.includes(i.token)).map((r) => r.status);
    expect(statuses).toEqual(expect.arrayContaining([502, 429, 200]));
  });

  it('keeps trying to post a finished dream through a longer Discord outage', async () => {
    await idle();
    const i = ask('e.png', photo);
    // More 5xx answers to the result's upload than discord.js retries on its own (4 attempts per request).
    fake.failNext({ method: 'PATCH', pathIncludes: i.token, fileName: /^dream-/ }, 503, { times: 6 });
    const done = await lastEdit(i, /your dream is ready/);
    const attempts = fake.requests.filter((r) => r.path.includes(i.token) && r.files.some((f) => f.filename.startsWith('dream-'))).map((r) => r.status);
    expect(attempts).toEqual([503, 503, 503, 503, 503, 503, 200]);
    expect(done.files.some((f) => f.filename.startsWith('dream-'))).toBe(true);
    expect(logs).toMatch(/could not post a dream outcome; trying again/);
  });

  it('answers each hostile input with one clear sentence and keeps working', async () => {
    await idle();
    const jpeg = await makePhotoLike(200, 150, 'jpeg');
    const cases: [string, Uint8Array, string | undefined, RegExp][] = [
      ['empty.png', new Uint8Array(0), 'image/png', /That file is empty\./],
      ['cut.jpg', truncate(jpeg, 0.5), 'image/jpeg', /damaged or incomplete/],
      ['bomb.png', makeBombPng(20000, 20000), 'image/png', /too large: 20000×20000 is 400\.0 megapixels; the limit is 4\.0 megapixels/],
      ['logo.svg', makeSvg(), 'image/svg+xml', /not an image I can read/],
      ['vector.png', makeSvg(), 'image/png', /not an image I can read/], // an SVG whose name and type lie
    ];
    for (const [name, bytes, type, expected] of cases) {
      const refusal = await refusalOf(ask(name, bytes, { contentType: type }));
      expect(refusal.flags).toBe(64);
      expect(refusal.content).toMatch(expected);
      expect(refusal.content.split('\n')).toHaveLength(1);
    }
    // An animated GIF is dreamed frame by frame into a GIF; a JPEG calling itself .gif is read by its content (a still).
    const gif = ask('loop.gif', await makeAnimatedGif(120, 90));
    const liar = ask('photo.gif', jpeg, { contentType: 'image/gif' });
    const animation = (await lastEdit(gif, /your animation is ready/)).files.find((f) => f.filename.startsWith('dream-'))!;
    expect((await sharp(animation.bytes, { animated: true }).metadata()).pages).toBe(3);
    const still = (await lastEdit(liar, /your dream is ready/)).files.find((f) => f.filename.startsWith('dream-'))!;
    expect((await sharp(still.bytes).metadata()).pages ?? 1).toBe(1);
    expect(logs).not.toMatch(/"level":"(fatal)"/);
  });

  it('serves /healthz and /metrics', async () => {
    await idle();
    const base = bot.healthAddress()!;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', gateway: 'ready', queue: { waiting: 0, running: 0 } });
    expect(body.backend).toMatch(/wasm|cpu|tensorflow/);
    expect(typeof body.uptimeSeconds).toBe('number');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^deepdream_queue_depth 0$/m);
    expect(metrics).toMatch(/^deepdream_jobs_total\{outcome="done"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^deepdream_jobs_total\{outcome="refused"\} [5-9]\d*$/m);
    expect(metrics).toMatch(/^deepdream_jobs_total\{outcome="failed"\} 1$/m); // the crashed worker's job
    expect(metrics).toMatch(/^deepdream_job_duration_seconds_count [1-9]/m);
    expect(metrics).toMatch(/^deepdream_step_seconds_count [1-9]/m);
    expect(metrics).toMatch(/^deepdream_backend_info\{backend="(wasm|cpu|tensorflow)"\} 1$/m);
    expect(metrics).toMatch(/^deepdream_gateway_ping_seconds /m);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('never writes the token to the logs', () => {
    expect(logs.length).toBeGreaterThan(1000);
    expect(logs).not.toContain(fake.token);
  });
});
