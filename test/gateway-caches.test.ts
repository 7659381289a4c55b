import { GatewayIntentBits, type APIMessage, type TextChannel } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord, snowflake, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { callbackOf, isOriginalEdit } from './helpers/requests.ts';

const member = (name: string) => ({ id: snowflake(), username: name, global_name: name, discriminator: '0', avatar: null });
const resultOf = (i: { token: string }) => (r: RecordedRequest) => isOriginalEdit(i)(r) && r.files.some((f) => f.filename.startsWith('dream-'));

describe('bounded caches: the bot keeps no messages, users or members but its own, and fetches what it reads', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let photo: Buffer;

  beforeAll(async () => {
    fake = await FakeDiscord.start({ channels: 3 });
    photo = await makePhotoLike(64, 48, 'png');
    bot = await startTestBot(fake, {}, new FakeRunner());
  });

  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  const messagesCached = () => fake.channelIds.reduce((n, id) => n + ((bot.client.channels.cache.get(id) as TextChannel | undefined)?.messages.cache.size ?? 0), 0);

  it('chatter leaves nothing behind; a reply-mention fetches the replied-to image over REST and dreams it', async () => {
    expect(bot.client.channels.cache.size).toBe(3);
    for (let k = 0; k < 60; k++) fake.dispatchMessage(fake.message({ author: member(`chatty${k}`), content: `hello ${k}`, channelId: fake.channelIds[k % 3] }));
    const image = fake.dispatchMessage(fake.message({ author: fake.users.bob, attachments: [{ filename: 'dog.png', bytes: photo }] }));
    const from = fake.requests.length;
    fake.dispatchMessage(fake.message({ author: fake.users.alice, content: 'nightmare please', mentionsBot: true, referencedMessage: image }));
    await fake.waitForRequest((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${fake.channelId}/messages/`) && r.files.some((f) => f.filename.startsWith('dream-')), { fromIndex: from, timeoutMs: 20_000 });
    expect(fake.requests.slice(from).some((r) => r.method === 'GET' && r.path === `/channels/${fake.channelId}/messages/${image.id}`)).toBe(true);
    expect(messagesCached()).toBe(0);
    expect([...bot.client.users.cache.keys()]).toEqual([fake.botUserId]);
    expect([...bot.client.guilds.cache.get(fake.guildId)!.members.cache.keys()]).toEqual([fake.botUserId]);
  });

  it('buttons on an old result work from the interaction alone (the result was never cached)', async () => {
    const first = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member('m'), options: { intensity: 'low', seed: 7 }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    await fake.waitForRequest(resultOf(first), { fromIndex: 0, timeoutMs: 20_000 });
    expect(messagesCached()).toBe(0);
    const result = fake.originalMessage(first.id) as APIMessage;
    for (const customId of ['dream:reroll', 'dream:deeper']) {
      const press = fake.dispatchInteraction(fake.button({ customId, message: result, user: fake.users.bob }));
      await fake.waitForRequest(resultOf(press), { fromIndex: 0, timeoutMs: 20_000 });
    }
    expect(messagesCached()).toBe(0);
  });
});

describe('MENTIONS=off', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let photo: Buffer;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(64, 48, 'png');
    bot = await startTestBot(fake, { MENTIONS: 'off' }, new FakeRunner());
  });

  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  it('identifies without GuildMessages, gets no messages, and still answers /dream and Apps → Dream', async () => {
    const identify = fake.gatewayFrames.find((f) => f.op === 2)!.d as { intents: number };
    expect(identify.intents).toBe(GatewayIntentBits.Guilds);

    const from = fake.requests.length;
    const image = fake.dispatchMessage(fake.message({ author: fake.users.bob, attachments: [{ filename: 'dog.png', bytes: photo }] }));
    fake.dispatchMessage(fake.message({ author: fake.users.alice, content: 'dream', mentionsBot: true, referencedMessage: image }));

    const slash = fake.dispatchInteraction(fake.chatInput({ name: 'dream', user: member('m'), options: { intensity: 'low' }, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    await fake.waitForRequest(resultOf(slash), { fromIndex: 0, timeoutMs: 20_000 });
    const menu = fake.dispatchInteraction(fake.messageContextMenu({ name: 'Dream', target: image }));
    await fake.waitForRequest(resultOf(menu), { fromIndex: 0, timeoutMs: 20_000 });
    expect(fake.requests.filter(callbackOf(menu))).toHaveLength(1);
    // The mention never reached the bot: nothing was posted in the channel.
    expect(fake.requests.slice(from).filter((r) => r.method === 'POST' && r.path === `/channels/${fake.channelId}/messages`)).toEqual([]);
  });
});
