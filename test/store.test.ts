import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Community } from '../src/bot/community.ts';
import { DatabaseStartError, Store, type DatabaseTarget, type RequestFacts } from '../src/store/index.ts';
import { TestPostgres } from './helpers/postgres-server.ts';

// The store on both databases: the same migrations, settings, daily counts and history, on a real SQLite file
// and a real Postgres.

const facts = (userId: string, cost = 1, guildId = 'g1'): RequestFacts => ({ guildId, channelId: 'c1', userId, kind: 'dream', recipe: { intensity: 'low' }, cost });

let pg: TestPostgres;
let dir: string;
let dbCount = 0;
const DAY = 86_400_000;
const HOUR = 3_600_000;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'dream-store-'));
  pg = await TestPostgres.start();
});
afterAll(async () => {
  await pg?.close();
  rmSync(dir, { recursive: true, force: true });
});

const targets: Record<'sqlite' | 'postgres', () => Promise<DatabaseTarget>> = {
  sqlite: async () => ({ kind: 'sqlite', path: path.join(dir, `nested/db${++dbCount}.sqlite`) }),
  postgres: async () => ({ kind: 'postgres', url: await pg.createDatabase(`store${++dbCount}`) }),
};

/** A dream admitted and done, and a refusal, as if `daysAgo` days ago (the ledger's clock is Date.now; no timer is faked). */
async function requestAgo(store: Store, daysAgo: number, userId: string): Promise<void> {
  const then = Date.now() - daysAgo * DAY;
  const clock = vi.spyOn(Date, 'now').mockReturnValue(then);
  try {
    const a = await store.admit(facts(userId), 0);
    if (!a.ok) throw new Error('admitted');
    await store.end(a.historyId, { outcome: 'done', refund: false });
    await store.recordRefusal(facts(userId), 'channel');
  } finally {
    clock.mockRestore();
  }
}

describe.each(['sqlite', 'postgres'] as const)('store on %s', (kind) => {
  it('creates and migrates a new database; settings and counts are there after reopening it', async () => {
    const target = await targets[kind]();
    const store = await Store.open(target);
    expect(await store.settings('g1')).toEqual({ dailyLimit: 0, mentions: true, channelMode: 'everywhere', channels: [] });
    await store.changeSettings('g1', 'admin', { nsfwPolicy: 'spoiler', dailyLimit: 3 });
    await store.changeSettings('g1', 'admin', { mentions: false, intensity: 'high', channelMode: 'listed' });
    await store.setChannel('g1', 'c2', true, 'admin');
    await store.setChannel('g1', 'c3', true, 'admin');
    await store.setChannel('g1', 'c3', false, 'admin');
    expect((await store.admit(facts('u1', 2), 3)).ok).toBe(true);
    await store.close();

    const again = await Store.open(target); // migrations already applied: nothing to do
    expect(await again.settings('g1')).toEqual({ nsfwPolicy: 'spoiler', dailyLimit: 3, mentions: false, intensity: 'high', channelMode: 'listed', channels: ['c2'] });
    expect(await again.settings('other')).toEqual({ dailyLimit: 0, mentions: true, channelMode: 'everywhere', channels: [] });
    const quota = await again.quota('g1', 'u1', 3);
    expect(quota).toMatchObject({ used: 2, left: 1 });
    expect(quota.resetsAt % 86_400_000).toBe(0);
    expect(quota.resetsAt).toBeGreaterThan(Date.now());
    await again.close();
  });

  it('counts a day against the limit, refuses past it, gives back once, and never lets two admissions pass the last unit', async () => {
    const store = await Store.open(await targets[kind]());
    try {
      const first = await store.admit(facts('u1'), 2);
      expect(first.ok).toBe(true);
      expect((await store.admit(facts('u1'), 2)).ok).toBe(true);
      const refused = await store.admit(facts('u1'), 2);
      expect(refused).toMatchObject({ ok: false, used: 2, limit: 2 });
      expect((await store.admit(facts('u1', 5), 4)).ok).toBe(false); // a zoom dearer than the whole limit
      expect((await store.admit(facts('u2'), 2)).ok).toBe(true); // another member's own day
      expect((await store.admit(facts('u1', 1, 'g2'), 2)).ok).toBe(true); // the same member in another server
      // A job that never ran is given back, once, however many processes report its end.
      if (!first.ok) throw new Error('admitted');
      expect(await store.end(first.historyId, { outcome: 'not_run', refund: true })).toBe(true);
      expect(await store.end(first.historyId, { outcome: 'not_run', refund: true })).toBe(false);
      expect((await store.quota('g1', 'u1', 2)).used).toBe(1);
      // Ten at once for the last units of a limit of 4: exactly 3 more pass.
      const burst = await Promise.all(Array.from({ length: 10 }, () => store.admit(facts('u1'), 4)));
      expect(burst.filter((a) => a.ok)).toHaveLength(3);
      expect((await store.quota('g1', 'u1', 4)).used).toBe(4);
      // No limit: counted, never refused.
      expect((await store.admit(facts('u1'), 0)).ok).toBe(true);
      const stats = await store.recent('g1', 7);
      expect(stats).toEqual({ dreams: 0, members: 2, refusals: 2 + 7 });
    } finally {
      await store.close();
    }
  });

  it('ends a row with its outcome and link, and prunes old history', async () => {
    const store = await Store.open(await targets[kind]());
    try {
      const a = await store.admit(facts('u1'), 0);
      if (!a.ok) throw new Error('admitted');
      await store.end(a.historyId, { outcome: 'done', seconds: 1.5, messageLink: 'https://discord.com/channels/g1/c1/m1', refund: false });
      await store.recordRefusal(facts('u2'), 'channel');
      expect(await store.recent('g1', 7)).toEqual({ dreams: 1, members: 2, refusals: 1 });
      expect(await store.prune(30)).toBe(0);
      expect(await store.prune(-1)).toBe(2); // everything is older than tomorrow
      expect(await store.recent('g1', 7)).toEqual({ dreams: 0, members: 0, refusals: 0 });
    } finally {
      await store.close();
    }
  });

  it('prune(30) deletes the history of 31 days ago and keeps that of 29 days ago, today\'s counts and the settings', async () => {
    const store = await Store.open(await targets[kind]());
    const admitAgo = (daysAgo: number, userId: string) => requestAgo(store, daysAgo, userId);
    try {
      await store.changeSettings('g1', 'admin', { dailyLimit: 4, nsfwPolicy: 'spoiler' });
      await admitAgo(31, 'old');
      await admitAgo(29, 'recent');
      expect((await store.admit(facts('today', 3), 4)).ok).toBe(true);
      expect((await store.history('g1')).map((r) => r.user_id)).toEqual(['today', 'recent', 'recent', 'old', 'old']);

      expect(await store.prune(30)).toBe(2); // the old member's dream and refusal
      expect((await store.history('g1')).map((r) => r.user_id)).toEqual(['today', 'recent', 'recent']);
      expect(await store.prune(30)).toBe(0);
      expect(await store.quota('g1', 'today', 4)).toMatchObject({ used: 3, left: 1 });
      expect(await store.settings('g1')).toMatchObject({ dailyLimit: 4, nsfwPolicy: 'spoiler' });
    } finally {
      await store.close();
    }
  });
});

describe('the pruner the bot starts (HISTORY_DAYS)', () => {
  it('prunes at once and every hour after, and stops when the community closes', async () => {
    const store = await Store.open(await targets.sqlite());
    const community = new Community(store, pino({ level: 'silent' }));
    const pruned = vi.spyOn(store, 'prune');
    let closed = false;
    // Only the interval is faked: SQLite's own timers and the promises run for real.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      await requestAgo(store, 31, 'old');
      community.startPruning(30);
      expect(pruned).toHaveBeenCalledTimes(1);
      expect(pruned).toHaveBeenLastCalledWith(30);
      expect(await pruned.mock.results[0].value).toBe(2);

      await requestAgo(store, 31, 'older');
      vi.advanceTimersByTime(HOUR - 1);
      expect(pruned).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(1);
      expect(pruned).toHaveBeenCalledTimes(2);
      expect(await pruned.mock.results[1].value).toBe(2);
      expect(await store.history('g1')).toEqual([]);

      await community.close();
      closed = true;
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(5 * HOUR);
      expect(pruned).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
      if (!closed) await community.close();
    }
  });
});

describe('a Postgres that goes down while the store is open', () => {
  it('keeps a job\'s ending (with its time) and writes it when it can: here, at close', async () => {
    const target = await targets.postgres();
    const store = await Store.open(target);
    const a = await store.admit(facts('u1'), 2);
    if (!a.ok) throw new Error('admitted');
    await pg.down();
    let [before, after] = [0, 0];
    try {
      before = Date.now();
      expect(await store.endSurely(a.historyId, { outcome: 'failed', refund: true })).toBe(false);
      after = Date.now();
      expect(store.unwrittenEndings).toBe(1);
    } finally {
      await pg.up();
    }
    await store.close(); // one last try, which the database now takes
    const again = await Store.open(target);
    try {
      const [row] = await again.history('g1');
      expect(row).toMatchObject({ id: a.historyId, outcome: 'failed' });
      // The time the ending came, not the (later: after a restart of Postgres) time it was written.
      expect(row.ended_at).toBeGreaterThanOrEqual(before);
      expect(row.ended_at).toBeLessThanOrEqual(after);
      expect((await again.quota('g1', 'u1', 2)).used).toBe(0); // refunded
    } finally {
      await again.close();
    }
  });
});

describe('a database that cannot be opened', () => {
  it('an unwritable SQLite path is one sentence naming it', async () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'not a folder');
    const err = await Store.open({ kind: 'sqlite', path: path.join(file, 'deepdream.sqlite') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseStartError);
    expect((err as Error).message).toMatch(/^Could not open the database sqlite:.*a-file\/deepdream\.sqlite: .+ \(check DATABASE_URL/);
  });

  it('a Postgres that is down is one sentence, with the password masked', async () => {
    const err = await Store.open({ kind: 'postgres', url: `postgres://dream:secret@127.0.0.1:${pg.port + 1}/x` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseStartError);
    expect((err as Error).message).toMatch(/^Could not open the database postgres:\/\/dream:\*\*\*@127\.0\.0\.1:\d+\/x: /);
    expect((err as Error).message).not.toContain('secret');
  });
});
