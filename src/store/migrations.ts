import { sql, type Kysely, type Migration, type MigrationProvider } from './kysely.ts';

// Versioned migrations, applied in name order at start-up by Kysely's Migrator (which takes a lock on Postgres, so
// processes starting together migrate once). Never edit a released one: add the next. Types are spelled so that
// both SQLite and Postgres read them alike (text, integer, bigint, double precision).

// A migration sees the schema as it was then, not as it is now: untyped (Kysely<unknown>).
const migrations: Record<string, Migration> = {
  '0001-settings-usage-history': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('guild_settings')
        .addColumn('guild_id', 'text', (c) => c.primaryKey())
        .addColumn('nsfw_policy', 'text')
        .addColumn('daily_limit', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('intensity', 'text')
        .addColumn('mentions', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('channel_mode', 'text', (c) => c.notNull().defaultTo('everywhere'))
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('guild_channels')
        .addColumn('guild_id', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('guild_channels_pk', ['guild_id', 'channel_id'])
        .execute();
      await db.schema
        .createTable('daily_usage')
        .addColumn('guild_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('used', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('daily_usage_pk', ['guild_id', 'user_id', 'day'])
        .execute();
      await db.schema
        .createTable('job_history')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('guild_id', 'text')
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('recipe', 'text', (c) => c.notNull())
        .addColumn('cost', 'integer', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('counted_day', 'text')
        .addColumn('queued_at', 'bigint', (c) => c.notNull())
        .addColumn('ended_at', 'bigint')
        .addColumn('seconds', 'double precision')
        .addColumn('message_link', 'text')
        .execute();
      await db.schema.createIndex('job_history_guild_time').on('job_history').columns(['guild_id', 'queued_at']).execute();
      await db.schema.createIndex('job_history_time').on('job_history').column('queued_at').execute();
      // Old usage rows go with old history (see History.prune); a day's rows are found by day.
      await db.schema.createIndex('daily_usage_day').on('daily_usage').column('day').execute();
    },
    async down(db: Kysely<unknown>) {
      for (const table of ['job_history', 'daily_usage', 'guild_channels', 'guild_settings']) await db.schema.dropTable(table).execute();
    },
  },
};

/** The migrations, from code (not a folder read at run time), so they ship inside the bundle the bot runs. */
export const migrationProvider: MigrationProvider = { getMigrations: async () => migrations };

/** SQLite: write-ahead log (readers never wait for the writer) and a busy wait instead of an instant "locked". */
export async function sqlitePragmas<T>(db: Kysely<T>): Promise<void> {
  await sql`PRAGMA busy_timeout = 5000`.execute(db);
  await sql`PRAGMA journal_mode = WAL`.execute(db);
  await sql`PRAGMA synchronous = NORMAL`.execute(db);
}
