import { sql } from './kysely.ts';
import { openDatabase, describeTarget, type DatabaseTarget, type Db, type OpenOptions } from './database.ts';
import { DAY_MS } from './days.ts';
import { admit, end, latest, prune, quotaOf, recordRefusal, statsSince, type Admission, type Ending, type Quota, type RequestFacts } from './ledger.ts';
import { changeSettings, readSettings, setChannel, type ServerSettings, type SettingsChange } from './settings.ts';

export { DatabaseStartError, describeTarget, type DatabaseTarget } from './database.ts';
export { DEFAULT_SETTINGS, type ServerSettings, type SettingsChange } from './settings.ts';
export type { Admission, Ending, Quota, RequestFacts } from './ledger.ts';
export type { ChannelMode, NsfwPolicy } from './schema.ts';
export { nextUtcMidnight, utcDay } from './days.ts';

/** Waits before writing kept endings again: soon after a blip, then once a minute while the database stays down. */
const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000, 60_000];
/** Kept endings at most (a database down for long under load): the oldest is dropped first, its row left `queued`. */
const MAX_UNWRITTEN = 10_000;

/**
 * What the bot and its workers remember, in one database (embedded SQLite, or Postgres shared by every process):
 * server settings, members' daily counts and the job history. Nothing is cached here, so a setting made through one
 * process is what the next request in any other reads. Calls throw when the database cannot be reached (endSurely
 * keeps the ending instead).
 */
export class Store {
  /** Endings the database could not take when they came, by history id, with the time they came. */
  private readonly unwritten = new Map<string, { ending: Ending; at: number }>();
  private retry: NodeJS.Timeout | null = null;
  private retries = 0;
  private flushing: Promise<void> | null = null;

  private constructor(
    private readonly db: Db,
    readonly target: DatabaseTarget,
  ) {}

  /** Opens (creating and migrating) the database; throws DatabaseStartError with one sentence. */
  static async open(target: DatabaseTarget, opts: OpenOptions = {}): Promise<Store> {
    return new Store(await openDatabase(target, opts), target);
  }

  get description(): string {
    return describeTarget(this.target);
  }

  settings(guildId: string): Promise<ServerSettings> {
    return readSettings(this.db, guildId);
  }

  changeSettings(guildId: string, by: string, change: SettingsChange): Promise<void> {
    return changeSettings(this.db, guildId, by, change);
  }

  setChannel(guildId: string, channelId: string, allowed: boolean, by: string): Promise<void> {
    return setChannel(this.db, guildId, channelId, allowed, by);
  }

  async admit(facts: RequestFacts, limit: number): Promise<Admission> {
    const admission = await admit(this.db, facts, limit);
    // The database answers again: endings kept while it was down are written now rather than at the next retry.
    if (this.unwritten.size) void this.flush();
    return admission;
  }

  recordRefusal(facts: RequestFacts, reason: string): Promise<void> {
    return recordRefusal(this.db, facts, reason);
  }

  end(historyId: string, ending: Ending): Promise<boolean> {
    return end(this.db, historyId, ending);
  }

  /**
   * Ends a row as end() does, but never throws and never loses the ending: when the database cannot be reached it
   * is kept in this process, with its time, and written once it can be (retried with a growing wait, and after the
   * next admission that reaches the database). Whether it was written now.
   */
  async endSurely(historyId: string, ending: Ending): Promise<boolean> {
    const at = Date.now();
    try {
      await end(this.db, historyId, ending, at);
      return true;
    } catch {
      if (this.unwritten.size >= MAX_UNWRITTEN) this.unwritten.delete(this.unwritten.keys().next().value!); // memory stays bounded
      this.unwritten.set(historyId, { ending, at });
      this.retryLater();
      return false;
    }
  }

  /** Endings kept because the database could not take them yet. */
  get unwrittenEndings(): number {
    return this.unwritten.size;
  }

  private retryLater(): void {
    if (this.retry) return;
    const delay = RETRY_MS[Math.min(this.retries++, RETRY_MS.length - 1)];
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.flush();
    }, delay);
    this.retry.unref();
  }

  /** Writes the kept endings in the order they came; at the first that fails, waits and tries again later. */
  private flush(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        for (const [id, { ending, at }] of this.unwritten) {
          await end(this.db, id, ending, at);
          this.unwritten.delete(id);
        }
        this.retries = 0;
      } catch {
        this.retryLater();
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  quota(guildId: string, userId: string, limit: number): Promise<Quota> {
    return quotaOf(this.db, guildId, userId, limit);
  }

  /** The server's last `days` days. */
  recent(guildId: string, days: number): Promise<{ dreams: number; members: number; refusals: number }> {
    return statsSince(this.db, guildId, Date.now() - days * DAY_MS);
  }

  /** The server's latest `limit` history rows, newest first. */
  history(guildId: string, limit = 20): ReturnType<typeof latest> {
    return latest(this.db, guildId, limit);
  }

  /** Deletes history older than `days` days; rows deleted. */
  prune(days: number): Promise<number> {
    return prune(this.db, Date.now() - days * DAY_MS);
  }

  /** Answers when the database does (health). */
  async ping(): Promise<void> {
    await sql`SELECT 1`.execute(this.db);
  }

  /** Closes the database, after one last try at the endings kept (those it cannot write stay `queued`). */
  async close(): Promise<void> {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    if (this.unwritten.size) await this.flush();
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    await this.db.destroy();
  }
}
