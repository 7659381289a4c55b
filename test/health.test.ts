import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_GRACE_MS, type DreamBot } from '../src/bot/app.ts';
import { startBot } from '../src/bin/compose.ts';
import { createLogger } from '../src/log.ts';
import { fakeBotConfig } from './helpers/bot-config.ts';
import { FakeDiscord, snowflake, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';

const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });

describe('/healthz follows the gateway', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let logs = '';
  const lines = () => logs.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string; outageSeconds?: number });

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    const config = fakeBotConfig(fake, { HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1', DREAM_MAX_SIDE: '256', LOG_LEVEL: 'info' });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs += chunk.toString();
        done();
      },
    });
    bot = await startBot(config, createLogger('info', [config.token], sink), { runner: new FakeRunner() });
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

  it('answers 503 within a few seconds of a gateway outage and 200 after the resume; the outage is logged once each way', async () => {
    expect((await health()).status).toBe(200);
    // A dream that is running when the gateway goes still reaches its member (REST does not need the gateway).
    const photo = await makePhotoLike(200, 150, 'png');
    const ask = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member('m'), options: { intensity: 'high' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    await fake.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(ask.token), { fromIndex: 0, timeoutMs: 10_000 });

    const cutAt = Date.now();
    const outage = fake.gatewayOutage(8000);
    const samples: { at: number; status: number; gateway: unknown }[] = [];
    let firstDown: number | null = null;
    while (fake.gatewayDown) {
      const h = await health();
      samples.push({ at: Date.now() - cutAt, status: h.status, gateway: h.body.gateway });
      if (h.status === 503 && firstDown === null) {
        firstDown = Date.now() - cutAt;
        expect(h.body).toMatchObject({ status: 'unavailable' });
        expect(String((h.body.problems as string[])[0])).toMatch(/^gateway (connecting|resuming|identifying) for \d+ s$/);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await outage;
    // Not-ready for a moment is not an outage; longer is, within the grace (plus one sample).
    expect(firstDown).not.toBeNull();
    expect(firstDown!).toBeGreaterThanOrEqual(GATEWAY_GRACE_MS - 300);
    expect(firstDown!).toBeLessThan(GATEWAY_GRACE_MS + 1500);
    expect(samples.filter((s) => s.at > GATEWAY_GRACE_MS + 1500).every((s) => s.status === 503)).toBe(true);

    // After the outage the client resumes its session and /healthz is 200 again.
    const back = Date.now();
    await expect.poll(async () => (await health()).status, { timeout: 10_000, interval: 100 }).toBe(200);
    expect(Date.now() - back).toBeLessThan(5000);
    expect((await health()).body).toMatchObject({ status: 'ok', gateway: 'ready' });

    const gatewayLines = lines().filter((l) => /^gateway/.test(l.msg));
    // Lost, (the first failed attempt's error,) resumed: not a line per attempt (there were ~15).
    const msgs = gatewayLines.map((l) => l.msg);
    expect(msgs[0]).toBe('gateway connection lost; reconnecting');
    expect(msgs.at(-1)).toBe('gateway resumed');
    expect(msgs.length).toBeLessThanOrEqual(3);
    expect(gatewayLines.at(-1)!.outageSeconds).toBeGreaterThan(7);

    // The dream that ran through the outage was posted.
    await fake.waitForRequest((r: RecordedRequest) => r.method === 'PATCH' && r.path.includes(ask.token) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 20_000 });
    // And the bot takes new requests again over the resumed gateway.
    const again = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member('n'), options: { intensity: 'low' }, attachments: { image: { filename: 'q.png', bytes: photo } } }));
    await fake.waitForRequest((r) => r.method === 'PATCH' && r.path.includes(again.token) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: 0, timeoutMs: 20_000 });
  });
});
