import { Locale, PermissionFlagsBits, type APIMessage, type APIUser } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DreamBot } from '../src/bot/app.ts';
import { messagesFor } from '../src/i18n/index.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord, member, type RecordedRequest } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';
import { makePhotoLike } from './helpers/images.ts';
import { callbackOf, isOriginalEdit, text } from './helpers/requests.ts';

const [en, ja] = [messagesFor('en-US'), messagesFor('ja')];
const deleteIdOf = (message: APIMessage) => /dream:delete:\d+/.exec(JSON.stringify(message.components))?.[0];

describe('the 🗑 Delete button on results (fake Discord, fake runner)', () => {
  let fake: FakeDiscord;
  let bot: DreamBot;
  let photo: Buffer;
  const requester = member('requester');
  const other = member('other');
  const moderator = member('moderator');

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    photo = await makePhotoLike(64, 48, 'png');
    bot = await startTestBot(fake, { DREAM_MAX_SIDE: '128', MAX_JOBS_PER_USER: '3' }, new FakeRunner({ msPerMegapixel: 0, msPerFrame: 0 }));
  });
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
  });

  /** Runs a command for the requester and returns the posted result (the message with a Delete button). */
  async function resultOf(name: 'dream' | 'explain' | 'zoom', options: Record<string, string | number> = {}): Promise<APIMessage> {
    const i = fake.dispatchInteraction(fake.chatInput({ name, user: requester, options, attachments: { image: { filename: 'p.png', bytes: photo } } }));
    await fake.waitForRequest((r) => isOriginalEdit(i)(r) && /dream:delete:/.test(text(r)), { fromIndex: 0, timeoutMs: 20_000 });
    return fake.originalMessage(i.id) as APIMessage;
  }

  const press = (message: APIMessage, user: APIUser, extra: { permissions?: bigint; locale?: Locale } = {}) => {
    const interaction = fake.button({ customId: deleteIdOf(message)!, message, user, permissions: extra.permissions });
    return fake.dispatchInteraction(extra.locale ? { ...interaction, locale: extra.locale } : interaction);
  };
  const deletion = (i: { token: string }) => (r: RecordedRequest) => r.method === 'DELETE' && r.path.includes(i.token) && r.path.includes('%40original');
  const stillThere = (m: APIMessage) => fake.getMessage(m.channel_id, m.id) !== undefined;

  it('every kind of result carries it, naming its requester: dream, Explain, zoom', async () => {
    for (const result of [await resultOf('dream', { intensity: 'low' }), await resultOf('explain'), await resultOf('zoom', { frames: 4 })]) {
      expect(deleteIdOf(result)).toBe(`dream:delete:${requester.id}`);
    }
  });

  it('another member is refused privately (in their language) and the result stays', async () => {
    const result = await resultOf('dream', { intensity: 'low' });
    for (const [locale, sentence] of [[undefined, en.refusals.notYourResult], [Locale.Japanese, ja.refusals.notYourResult]] as const) {
      const i = press(result, other, { locale });
      const reply = await fake.waitForRequest(callbackOf(i), { fromIndex: 0 });
      expect(reply.json).toMatchObject({ type: 4, data: { content: sentence, flags: 64 } });
    }
    expect(fake.requests.some((r) => r.method === 'DELETE')).toBe(false);
    expect(stillThere(result)).toBe(true);
  });

  it('the requester deletes the bot\'s message', async () => {
    const result = await resultOf('dream', { intensity: 'low' });
    const i = press(result, requester);
    await fake.waitForRequest(deletion(i), { fromIndex: 0 });
    expect(stillThere(result)).toBe(false);
  });

  it('a moderator with Manage Messages deletes it; the same member without the permission is refused', async () => {
    const result = await resultOf('explain');
    const refused = press(result, moderator);
    const reply = await fake.waitForRequest(callbackOf(refused), { fromIndex: 0 });
    expect(reply.json).toMatchObject({ data: { content: en.refusals.notYourResult, flags: 64 } });
    const allowed = press(result, moderator, { permissions: PermissionFlagsBits.ViewChannel | PermissionFlagsBits.ManageMessages });
    await fake.waitForRequest(deletion(allowed), { fromIndex: 0 });
    expect(stillThere(result)).toBe(false);
  });
});
