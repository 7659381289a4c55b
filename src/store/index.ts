import { sql } from 'kysely';
import { openDatabase, describeTarget, type DatabaseTarget, type Db, type OpenOptions } from './database.ts';
import { DAY_MS } from './days.ts';
import { admit, end, latest, prune, quotaOf, recordRefusal, statsSince, type Admission, type Ending, type Quota, type RequestFacts } from './ledger.ts';
import { changeSettings, readSettings, setChannel, type ServerSettings, type SettingsChange } from './settings.ts';

export { DatabaseStartError, describeTarget, type DatabaseTarget } from './database.ts';
export { DEFAULT_SETTINGS, type ServerSettings, type SettingsChange } from './settings.ts';
export type { Admission, Ending, Quota, RequestFacts } from './ledger.ts';
export type { ChannelMode, NsfwPolicy } from './schema.ts';
export { nextUtcMidnight, utcDay } from './days.ts';

/**
 * What the bot and its workers remember, in one database (embedded SQLite, or Postgres shared by every process):
 * server settings, members' daily counts and the job history. Nothing is cached here, so a setting made through one
 * process is what the next request in any other reads. Calls throw when the database cannot be reached.
 */
export class Store {
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

  admit(facts: RequestFacts, limit: number): Promise<Admission> {
    return admit(this.db, facts, limit);
  }

  recordRefusal(facts: RequestFacts, reason: string): Promise<void> {
    return recordRefusal(this.db, facts, reason);
  }

  end(historyId: string, ending: Ending): Promise<boolean> {
    return end(this.db, historyId, ending);
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

  close(): Promise<void> {
    return this.db.destroy();
  }
}
