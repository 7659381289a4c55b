import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord, snowflake } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { callbackOf, isResult as resultOf } from './helpers/requests.ts';

const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });

describe('one process holds every shard Discord recommends', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;

  beforeAll(async () => {
    // max_concurrency 4: all four may identify at once (with 1 they would be 5 s apart).
    fake = await FakeDiscord.start({ shards: 4, maxConcurrency: 4 });
    bot = await startTestBot(fake, { HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1', HEALTH_GATEWAY_GRACE_MS: '300' }, new FakeRunner());
  });

  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  const health = async () => {
    const res = await fetch(`${bot.healthAddress()}/healthz`);
    return { status: res.status, body: (await res.json()) as { problems?: string[]; shards: { id: number; state: string; guilds: number }[] } };
  };

  it('identifies shards 0-3 of 4 once each, at once (max_concurrency 4), and answers a /dream in a server of each', async () => {
    const identifies = fake.identifies();
    expect(identifies.map((i) => i.shard).sort()).toEqual([[0, 4], [1, 4], [2, 4], [3, 4]]);
    const times = identifies.map((i) => i.at);
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan(4000);

    const photo = await makePhotoLike(64, 48, 'png');
    const asks = [0, 1, 2, 3].map((shard) =>
      fake.dispatchInteraction(
        fake.chatInput({ name: 'dream', user: member(`m${shard}`), options: { intensity: 'low' }, attachments: { image: { filename: 'p.png', bytes: photo } }, place: fake.guildOnShard(shard) }),
      ),
    );
    for (const ask of asks) await fake.waitForRequest(resultOf(ask), { fromIndex: 0, timeoutMs: 20_000 });
    for (const ask of asks) expect(fake.requests.filter(callbackOf(ask))).toHaveLength(1);

    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body.shards).toEqual([0, 1, 2, 3].map((id) => expect.objectContaining({ id, state: 'ready', guilds: 1 })));
    const metrics = await (await fetch(`${bot.healthAddress()}/metrics`)).text();
    for (const id of [0, 1, 2, 3]) {
      expect(metrics).toMatch(new RegExp(`^deepdream_gateway_shard_ready\\{shard="${id}",state="ready"\\} 1$`, 'm'));
      expect(metrics).toMatch(new RegExp(`^deepdream_gateway_shard_guilds\\{shard="${id}"\\} 1$`, 'm'));
    }
    expect(metrics).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
  });

  it('a shard that drops turns /healthz 503 naming it, and 200 again once it has resumed (no new identify)', async () => {
    const identifiesBefore = fake.identifies().length;
    const outage = fake.shardOutage(2, 1500);
    let down: { status: number; body: { problems?: string[] } } | null = null;
    const deadline = Date.now() + 10_000;
    while (!down && Date.now() < deadline) {
      const h = await health();
      if (h.status === 503) down = h;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(down?.body.problems).toEqual([expect.stringMatching(/^gateway shard 2 (connecting|resuming|identifying) for \d+ s$/)]);
    const metrics = await (await fetch(`${bot.healthAddress()}/metrics`)).text();
    expect(metrics).toMatch(/^deepdream_gateway_shard_ready\{shard="2",state="(connecting|resuming|identifying)"\} 0$/m);
    expect(metrics).toMatch(/^deepdream_gateway_shard_ready\{shard="1",state="ready"\} 1$/m);
    await outage;
    await expect.poll(async () => (await health()).status, { timeout: 10_000, interval: 50 }).toBe(200);
    expect(fake.identifies().length).toBe(identifiesBefore);
    expect(fake.gatewayFrames.some((f) => f.op === 6)).toBe(true);
  });
});

describe('sharding required', () => {
  it('a bot told SHARD_COUNT=1 where Discord requires 4 is closed with 4011 and says so', async () => {
    const fake = await FakeDiscord.start({ shards: 4, maxConcurrency: 4 });
    try {
      await expect(startTestBot(fake, { SHARD_COUNT: '1' }, new FakeRunner())).rejects.toThrow(/^Discord requires more shards than SHARD_COUNT=1: leave SHARD_COUNT unset \(auto\)/);
      expect(fake.identifies().map((i) => i.shard)).toEqual([[0, 1]]);
    } finally {
      await fake.close();
    }
  });
});
