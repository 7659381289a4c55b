import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startBot } from '../src/bin/compose.ts';
import { createLogger } from '../src/log.ts';
import { fakeBotConfig } from './helpers/bot-config.ts';
import { FakeDiscord, snowflake, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner, Gate } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';

/** HEALTH_GATEWAY_GRACE_MS here (3 s by default): how long the gateway may be down before /healthz says so. */
const GRACE_MS = 1000;
/** Reconnect attempts the outage lasts (the client tries about every 0.5 s): far more than the lines allowed. */
const ATTEMPTS = 6;

const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });

describe('/healthz follows the gateway', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let logs = '';
  // Dreams wait at this gate until the test lets them go.
  const gate = new Gate();
  const lines = () => logs.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string; time: number; outageSeconds?: number });

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    const config = fakeBotConfig(fake, { HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1', DREAM_MAX_SIDE: '256', LOG_LEVEL: 'info', HEALTH_GATEWAY_GRACE_MS: String(GRACE_MS) });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs += chunk.toString();
        done();
      },
    });
    const runner = new FakeRunner();
    runner.gate = gate;
    bot = await startBot(config, createLogger('info', [config.token], sink), { runner });
  });

  afterAll(async () => {
    fake?.endGatewayOutage();
    await bot?.stop();
    await fake?.close();
  });

  const health = async () => {
    const res = await fetch(`${bot.healthAddress()}/healthz`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('answers 503 within the grace of a gateway outage and 200 after the resume; the outage is logged once each way', async () => {
    expect((await health()).status).toBe(200);
    // A dream that is running when the gateway goes (held at the gate) still reaches its member: REST does not need
    // the gateway.
    const photo = await makePhotoLike(200, 150, 'png');
    const ask = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member('m'), options: { intensity: 'high' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    await expect.poll(() => gate.held, { timeout: 10_000, interval: 20 }).toBe(1);

    const refusedBefore = fake.gatewayRefusals;
    const cutAt = Date.now();
    const outage = fake.gatewayOutage();
    // Health as seen from outside, each sample with when its request started and when its answer came (ms after the cut).
    const samples: { start: number; end: number; status: number; gateway: unknown; body: Record<string, unknown> }[] = [];
    const firstNotReady = () => samples.find((s) => s.gateway !== 'ready');
    const pastGrace = () => samples.filter((s) => firstNotReady() && s.start >= firstNotReady()!.end + GRACE_MS);
    // Sample until the outage has lasted several reconnect attempts and /healthz has been seen past the grace.
    const deadline = Date.now() + 60_000;
    while (fake.gatewayRefusals - refusedBefore < ATTEMPTS || pastGrace().length < 3) {
      if (Date.now() > deadline) throw new Error(`the outage never got going: ${JSON.stringify(samples.slice(-5))}`);
      const start = Date.now() - cutAt;
      const h = await health();
      samples.push({ start, end: Date.now() - cutAt, status: h.status, gateway: h.body.gateway, body: h.body });
      await new Promise((r) => setTimeout(r, 100));
    }
    // The held dream goes on now, and is posted while the gateway is still down.
    gate.open();
    const result = await fake.waitForRequest((r: RecordedRequest) => r.method === 'PATCH' && r.path.includes(ask.token) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 20_000 });
    expect(fake.gatewayDown).toBe(true);
    expect(result.at).toBeGreaterThan(cutAt);
    const endAt = Date.now();
    fake.endGatewayOutage();
    await outage;

    // Not-ready for a moment is not an outage: no 503 before the grace has passed since the cut...
    const down = samples.filter((s) => s.status === 503);
    expect(down.length).toBeGreaterThan(0);
    expect(down.every((s) => s.end >= GRACE_MS)).toBe(true);
    // ...the client notices the cut at once (well within the grace)...
    expect(firstNotReady()!.start).toBeLessThan(GRACE_MS);
    // ...and from the grace after it noticed, /healthz says so, every time, and why.
    expect(pastGrace().every((s) => s.status === 503)).toBe(true);
    expect(down[0].body).toMatchObject({ status: 'unavailable' });
    expect(String((down[0].body.problems as string[])[0])).toMatch(/^gateway (connecting|resuming|identifying) for \d+ s$/);

    // After the outage the client resumes its session and /healthz is 200 again.
    const back = Date.now();
    await expect.poll(async () => (await health()).status, { timeout: 10_000, interval: 100 }).toBe(200);
    expect(Date.now() - back).toBeLessThan(5000);
    expect((await health()).body).toMatchObject({ status: 'ok', gateway: 'ready' });

    const gatewayLines = lines().filter((l) => /^gateway/.test(l.msg));
    // Lost, (the first failed attempt's error,) resumed: not a line per attempt.
    const msgs = gatewayLines.map((l) => l.msg);
    expect(fake.gatewayRefusals - refusedBefore).toBeGreaterThanOrEqual(ATTEMPTS);
    expect(msgs[0]).toBe('gateway connection lost; reconnecting');
    expect(msgs.at(-1)).toBe('gateway resumed');
    expect(msgs.length).toBeLessThanOrEqual(3);
    // The outage's length: from the lost line to the resumed line, at least until the gateway took connections again.
    const [lost, resumed] = [gatewayLines[0], gatewayLines.at(-1)!];
    expect(resumed.outageSeconds).toBeGreaterThanOrEqual((endAt - lost.time) / 1000 - 0.06);
    expect(resumed.outageSeconds).toBeLessThanOrEqual((resumed.time - lost.time) / 1000 + 0.06);

    // And the bot takes new requests again over the resumed gateway.
    const again = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member('n'), options: { intensity: 'low' }, attachments: { image: { filename: 'q.png', bytes: photo } } }));
    await fake.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(again.token) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 20_000 });
  });
});
