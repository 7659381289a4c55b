import { describe, expect, it } from 'vitest';
import { botConfig } from '../src/config.ts';
import { startTestBot } from './helpers/bot.ts';
import { FakeDiscord } from './helpers/fake-discord.ts';
import { FakeRunner } from './helpers/fake-runner.ts';

const base = { DISCORD_TOKEN: 'x', DISCORD_CLIENT_ID: '123456789012345678' };
const shardsOf = (env: Record<string, string>) => botConfig({ ...base, ...env }).shards;

describe('SHARD_COUNT and SHARD_IDS', () => {
  it('default to every shard Discord recommends; take a count, a list or ranges', () => {
    expect(shardsOf({})).toEqual({ count: 'auto' });
    expect(shardsOf({ SHARD_COUNT: 'auto' })).toEqual({ count: 'auto' });
    expect(shardsOf({ SHARD_COUNT: '4' })).toEqual({ count: 4 });
    expect(shardsOf({ SHARD_COUNT: '4', SHARD_IDS: '0,1' })).toEqual({ count: 4, ids: [0, 1] });
    expect(shardsOf({ SHARD_COUNT: '8', SHARD_IDS: '6, 0-2,1' })).toEqual({ count: 8, ids: [0, 1, 2, 6] });
  });

  it('refuse, in one sentence, ids without a count, ids out of range, malformed values and SHARDS', () => {
    expect(() => shardsOf({ SHARD_IDS: '0,1' })).toThrow(/^SHARD_IDS needs a SHARD_COUNT/);
    expect(() => shardsOf({ SHARD_COUNT: 'auto', SHARD_IDS: '0' })).toThrow(/^SHARD_IDS needs a SHARD_COUNT/);
    expect(() => shardsOf({ SHARD_COUNT: '4', SHARD_IDS: '2-5' })).toThrow('SHARD_IDS 4, 5 are out of range: with SHARD_COUNT=4 shard ids go from 0 to 3.');
    expect(() => shardsOf({ SHARD_COUNT: '4', SHARD_IDS: '3-1' })).toThrow('SHARD_IDS must list shard ids like 0,1 or 0-3, not "3-1".');
    expect(() => shardsOf({ SHARD_COUNT: 'many' })).toThrow('SHARD_COUNT must be auto or a whole number from 1 to 4096, not "many".');
    expect(() => shardsOf({ SHARDS: '[0,1]' })).toThrow(/^SHARDS is not read by this bot: set SHARD_COUNT/);
    expect(() => botConfig({ ...base, MENTIONS: 'maybe' })).toThrow('MENTIONS must be one of on, off, not "maybe".');
  });

  // discord.js reads SHARD_COUNT from process.env when a Client is constructed (Client.js), so a bot started in this
  // process with it in the environment is what `npm start` with a copied .env does.
  it('a bot starts in a process whose environment says SHARD_COUNT=auto (a copied .env), which discord.js would read', async () => {
    const fake = await FakeDiscord.start({ shards: 2, maxConcurrency: 2 });
    const before = process.env.SHARD_COUNT;
    process.env.SHARD_COUNT = 'auto';
    try {
      const bot = await startTestBot(fake, { SHARD_COUNT: 'auto' }, new FakeRunner());
      expect([...bot.client.ws.shards.keys()]).toEqual([0, 1]);
      expect(fake.identifies().map((i) => i.shard).sort()).toEqual([[0, 2], [1, 2]]);
      expect(process.env.SHARD_COUNT).toBe('auto');
      await bot.stop();
    } finally {
      if (before === undefined) delete process.env.SHARD_COUNT;
      else process.env.SHARD_COUNT = before;
      await fake.close();
    }
  });
});
