import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type SqliteDatabase } from './kysely.ts';
import Sqlite from 'libsql';
import pg from 'pg';
import { UserError } from '../errors.ts';
import { migrationProvider, sqlitePragmas } from './migrations.ts';
import type { Database } from './schema.ts';

/** Where the data lives: an embedded SQLite file (the default), or a Postgres server shared by many processes. */
export type DatabaseTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export type Db = Kysely<Database>;

/** The database could not be opened or migrated at start-up: one sentence naming it and why. */
export class DatabaseStartError extends UserError {
  override name = 'DatabaseStartError';
  constructor(target: DatabaseTarget, cause: unknown) {
    const why = (cause instanceof Error ? cause.message : String(cause)).split('\n')[0];
    super(`Could not open the database ${describeTarget(target)}: ${why} (check DATABASE_URL; README, "Database").`, 'config');
  }
}

/** The target as it may be logged: a Postgres password is masked. */
export function describeTarget(target: DatabaseTarget): string {
  return target.kind === 'sqlite' ? `sqlite:${target.path}` : target.url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

// Postgres bigint (int8) and numeric come back as strings by default; every bigint here is a time in ms, well
// inside a double's exact range.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface OpenOptions {
  /** Errors of idle Postgres connections (a restarted server); they must not crash the process. */
  onIdleError?: (err: Error) => void;
}

const SQLITE_BUSY = /SQLITE_BUSY|database is locked/i;

/**
 * Applies the migrations not yet applied. Processes that share one SQLite file and start together (a bot and its
 * workers on one machine) may find it busy for a moment: they try again, briefly, instead of failing.
 */
async function migrate(db: Db, target: DatabaseTarget): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      if (target.kind === 'sqlite') await sqlitePragmas(db);
      const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
      if (error) throw error;
      return;
    } catch (err) {
      if (target.kind !== 'sqlite' || !SQLITE_BUSY.test(String(err)) || attempt === 20) throw err;
      await new Promise((r) => setTimeout(r, 25 * attempt));
    }
  }
}

/**
 * Opens the database and brings its schema up to date (created on first use). SQLite runs in WAL mode in this
 * process; Postgres through a small pool. Throws DatabaseStartError with one readable sentence.
 */
export async function openDatabase(target: DatabaseTarget, opts: OpenOptions = {}): Promise<Db> {
  let db: Db | undefined;
  try {
    if (target.kind === 'sqlite') {
      if (target.path !== ':memory:') mkdirSync(path.dirname(path.resolve(target.path)), { recursive: true });
      // libsql speaks better-sqlite3's API, which Kysely's SQLite dialect drives; its binary ships in an npm package.
      const file = new Sqlite(target.path, { timeout: 5000 });
      db = new Kysely<Database>({ dialect: new SqliteDialect({ database: file as unknown as SqliteDatabase }) });
    } else {
      const pool = new pg.Pool({ connectionString: target.url, max: 4, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 });
      pool.on('error', (err) => opts.onIdleError?.(err));
      db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    }
    await migrate(db, target);
    return db;
  } catch (err) {
    await db?.destroy().catch(() => undefined);
    throw new DatabaseStartError(target, err);
  }
}
