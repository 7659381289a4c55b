// Kysely through require(): its ES-module build is some 260 files, and in a process started with
// `node --import tsx/esm` (npm start, npm run worker) every ES module passes through the loader hooks, which cost
// about half a second of CPU per start for Kysely alone. Its CommonJS build, required, skips them. Same package,
// same version, same API; only src/store uses Kysely.
import { createRequire } from 'node:module';
import type * as K from 'kysely';

const kysely = createRequire(import.meta.url)('kysely') as typeof K;
export const { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } = kysely;
export type Kysely<DB> = K.Kysely<DB>;
export type { Migration, MigrationProvider, SqliteDatabase, Transaction } from 'kysely';
