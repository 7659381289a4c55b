import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from './kysely.ts';
import { nextUtcMidnight, utcDay } from './days.ts';
import type { Database, HistoryOutcome } from './schema.ts';

// The ledger: what each member used today (daily limits) and the history of every request. A request is admitted
// (its cost counted and its history row written) in one transaction, and ended once: an ending that arrives twice
// (several bot processes hear every Redis ending) changes nothing the second time.

/** Who asked, where, for what. */
export interface RequestFacts {
  guildId: string | null;
  channelId: string;
  userId: string;
  kind: string;
  /** The recipe (no pixels, no URLs); stored as JSON. */
  recipe: unknown;
  cost: number;
}

export type Admission = { ok: true; historyId: string } | { ok: false; used: number; limit: number; resetsAt: number };

/** A member's day in a server: what they used, the limit (0 = none) and when it starts over. */
export interface Quota {
  used: number;
  limit: number;
  /** Units left today; undefined without a limit. */
  left?: number;
  /** Next 00:00 UTC, in ms. */
  resetsAt: number;
}

function historyRow(facts: RequestFacts, outcome: HistoryOutcome, now: number, extra: { reason?: string; countedDay?: string } = {}) {
  return {
    id: randomUUID(),
    guild_id: facts.guildId,
    channel_id: facts.channelId,
    user_id: facts.userId,
    kind: facts.kind,
    recipe: JSON.stringify(facts.recipe ?? null),
    cost: facts.cost,
    outcome,
    reason: extra.reason ?? null,
    counted_day: extra.countedDay ?? null,
    queued_at: now,
    ended_at: outcome === 'queued' ? null : now,
    seconds: null,
    message_link: null,
  };
}

/**
 * Counts a request against its member's day and writes its history row, or refuses it when the limit (> 0) would
 * be passed (the refusal is written too). One transaction; the count is one conditional upsert, so two processes
 * admitting at once cannot both pass the last unit.
 */
export async function admit(db: Kysely<Database>, facts: RequestFacts, limit: number, now = Date.now()): Promise<Admission> {
  return db.transaction().execute(async (tx) => {
    const day = utcDay(now);
    const counted = facts.guildId ? await count(tx, facts.guildId, facts.userId, day, facts.cost, limit) : true;
    if (!counted) {
      const used = facts.guildId ? await usedOn(tx, facts.guildId, facts.userId, day) : 0;
      await tx.insertInto('job_history').values(historyRow(facts, 'refused', now, { reason: 'daily_limit' })).execute();
      return { ok: false, used, limit, resetsAt: nextUtcMidnight(now) };
    }
    const row = historyRow(facts, 'queued', now, { countedDay: facts.guildId ? day : undefined });
    await tx.insertInto('job_history').values(row).execute();
    return { ok: true, historyId: row.id };
  });
}

/** Adds `cost` to the member's day unless a limit (> 0) would be passed; whether it did. */
async function count(tx: Transaction<Database>, guildId: string, userId: string, day: string, cost: number, limit: number): Promise<boolean> {
  if (limit > 0 && cost > limit) return false;
  const row = await tx
    .insertInto('daily_usage')
    .values({ guild_id: guildId, user_id: userId, day, used: cost })
    .onConflict((oc) => {
      const update = oc.columns(['guild_id', 'user_id', 'day']).doUpdateSet({ used: sql<number>`daily_usage.used + excluded.used` });
      return limit > 0 ? update.where(sql<boolean>`daily_usage.used + excluded.used <= ${limit}`) : update;
    })
    .returning('used')
    .executeTakeFirst();
  return row !== undefined;
}

async function usedOn(db: Kysely<Database>, guildId: string, userId: string, day: string): Promise<number> {
  const row = await db.selectFrom('daily_usage').select('used').where('guild_id', '=', guildId).where('user_id', '=', userId).where('day', '=', day).executeTakeFirst();
  return row?.used ?? 0;
}

/** A refusal before admission (a closed channel, a full queue, …), for the server's record. */
export async function recordRefusal(db: Kysely<Database>, facts: RequestFacts, reason: string, now = Date.now()): Promise<void> {
  await db.insertInto('job_history').values(historyRow(facts, 'refused', now, { reason })).execute();
}

export interface Ending {
  outcome: Exclude<HistoryOutcome, 'queued'>;
  reason?: string;
  seconds?: number;
  messageLink?: string;
  /** Give the cost back to the member's day (the job never ran, or failed on our side). */
  refund: boolean;
}

/** Ends an admitted request's row, once; the first ending wins. Whether this call was the one that ended it. */
export async function end(db: Kysely<Database>, historyId: string, ending: Ending, now = Date.now()): Promise<boolean> {
  // The write comes first: on SQLite a transaction that reads before it writes can be refused the upgrade.
  return db.transaction().execute(async (tx) => {
    const updated = await tx
      .updateTable('job_history')
      .set({ outcome: ending.outcome, reason: ending.reason ?? null, seconds: ending.seconds ?? null, message_link: ending.messageLink ?? null, ended_at: now })
      .where('id', '=', historyId)
      .where('outcome', '=', 'queued')
      .executeTakeFirst();
    if (updated.numUpdatedRows === 0n) return false;
    const row = await tx.selectFrom('job_history').select(['guild_id', 'user_id', 'cost', 'counted_day']).where('id', '=', historyId).executeTakeFirstOrThrow();
    if (ending.refund && row.guild_id && row.counted_day) {
      await tx
        .updateTable('daily_usage')
        .set({ used: sql<number>`CASE WHEN used > ${row.cost} THEN used - ${row.cost} ELSE 0 END` })
        .where('guild_id', '=', row.guild_id)
        .where('user_id', '=', row.user_id)
        .where('day', '=', row.counted_day)
        .execute();
    }
    return true;
  });
}

export async function quotaOf(db: Kysely<Database>, guildId: string, userId: string, limit: number, now = Date.now()): Promise<Quota> {
  const used = await usedOn(db, guildId, userId, utcDay(now));
  return { used, limit, left: limit > 0 ? Math.max(0, limit - used) : undefined, resetsAt: nextUtcMidnight(now) };
}

/** A server's record since `since`: dreams posted, members who asked, requests refused. */
export async function statsSince(db: Kysely<Database>, guildId: string, since: number): Promise<{ dreams: number; members: number; refusals: number }> {
  const row = await db
    .selectFrom('job_history')
    .select((eb) => [
      eb.fn.sum<number | string | null>(sql`CASE WHEN outcome = 'done' THEN 1 ELSE 0 END`).as('dreams'),
      eb.fn.count<number | string>('user_id').distinct().as('members'),
      eb.fn.sum<number | string | null>(sql`CASE WHEN outcome = 'refused' THEN 1 ELSE 0 END`).as('refusals'),
    ])
    .where('guild_id', '=', guildId)
    .where('queued_at', '>=', since)
    .executeTakeFirst();
  return { dreams: Number(row?.dreams ?? 0), members: Number(row?.members ?? 0), refusals: Number(row?.refusals ?? 0) };
}

/** A server's latest history rows, newest first (for moderators, and tests). */
export async function latest(db: Kysely<Database>, guildId: string, limit: number) {
  const rows = await db.selectFrom('job_history').selectAll().where('guild_id', '=', guildId).orderBy('queued_at', 'desc').limit(limit).execute();
  return rows.map((r) => ({ ...r, queued_at: Number(r.queued_at), ended_at: r.ended_at === null ? null : Number(r.ended_at), recipe: JSON.parse(r.recipe) as unknown }));
}

/** Deletes history (and daily counts) older than `before`; the pictures were never kept. Rows deleted. */
export async function prune(db: Kysely<Database>, before: number): Promise<number> {
  return db.transaction().execute(async (tx) => {
    const gone = await tx.deleteFrom('job_history').where('queued_at', '<', before).executeTakeFirst();
    await tx.deleteFrom('daily_usage').where('day', '<', utcDay(before)).execute();
    return Number(gone.numDeletedRows);
  });
}
