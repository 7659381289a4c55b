import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statfsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { servicePort } from './ports.ts';

/** Debian's postgresql (apt-get install postgresql; .ci/run does this): its newest version's programs. */
export const POSTGRES_BIN = (() => {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a)) : [];
  return versions.length ? path.join(root, versions[0], 'bin') : undefined;
})();

/**
 * Postgres refuses to run as root: as root, its programs run as the `postgres` user that Debian's package creates
 * (set on the child itself, so signals reach postgres, not a runuser in between).
 */
const RUN_AS: { uid?: number; gid?: number } = (() => {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('running as root, postgres needs the postgres user: apt-get install postgresql creates it');
  return { uid, gid: id('-g') };
})();

/**
 * Where servers keep their data: in memory (/dev/shm) where there is one with room to spare (a container's is often
 * 64 MB; a cluster is ~40 MB and each database ~8 MB), else the temp folder. Postgres writes a lot for a database it
 * creates (a copy of template1) and at start; on tmpfs that costs a fraction of the disk's system time (initdb: 0.7 s
 * of CPU against 1.7 s on this machine's disk).
 */
const SCRATCH = (() => {
  try {
    accessSync('/dev/shm', constants.W_OK);
    const { bavail, bsize } = statfsSync('/dev/shm');
    return bavail * bsize >= 1024 ** 3 ? '/dev/shm' : tmpdir();
  } catch {
    return tmpdir();
  }
})();

const INITDB_ARGS = ['-U', 'dream', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'];

/**
 * A fresh cluster as initdb makes it (user `dream`, trust auth), made once and copied for each server: a copy takes
 * ~0.05 s where initdb takes ~0.7 s. Kept in SCRATCH under a name made of the Postgres programs, initdb's arguments
 * and the user they run as, so a change to any of them makes a new one; made in a folder of its own and renamed
 * into place, so files starting side by side never see half of one.
 */
function clusterTemplate(): string {
  const key = createHash('sha256').update(JSON.stringify([POSTGRES_BIN, INITDB_ARGS, RUN_AS])).digest('hex').slice(0, 16);
  const template = path.join(SCRATCH, `dream-pg-template-${key}`);
  if (existsSync(path.join(template, 'PG_VERSION'))) return template;
  const work = mkdtempSync(path.join(SCRATCH, 'dream-pg-initdb-'));
  try {
    if (RUN_AS.uid !== undefined) chownSync(work, RUN_AS.uid, RUN_AS.gid!);
    const init = spawnSync(path.join(POSTGRES_BIN!, 'initdb'), ['-D', path.join(work, 'data'), ...INITDB_ARGS], { encoding: 'utf8', cwd: work, ...RUN_AS });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
    try {
      renameSync(path.join(work, 'data'), template);
    } catch (err) {
      // Another file made it first: theirs is as good.
      if (!existsSync(path.join(template, 'PG_VERSION'))) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return template;
}

/** A copy of a cluster, with its owners and modes (Postgres wants its folder 0700 and its own). */
function copyCluster(from: string, to: string): void {
  const cp = spawnSync('cp', ['-a', from, to], { encoding: 'utf8' });
  if (cp.status !== 0) throw new Error(`copying the Postgres cluster failed: ${cp.stderr}`);
}

/**
 * A throw-away Postgres on 127.0.0.1 (its own port and data folder, no fsync, trust auth for user `dream`) that a
 * test can stop and start again, as TestRedis is for Redis.
 */
export class TestPostgres {
  private child: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<TestPostgres> {
    if (!POSTGRES_BIN) throw new Error('postgres is not installed: apt-get install postgresql (.ci/run does this)');
    const dir = mkdtempSync(path.join(SCRATCH, 'dream-pg-'));
    if (RUN_AS.uid !== undefined) chownSync(dir, RUN_AS.uid, RUN_AS.gid!);
    copyCluster(clusterTemplate(), path.join(dir, 'data'));
    const pg = new TestPostgres(await servicePort(), dir);
    await pg.up();
    return pg;
  }

  /** A URL for database `name` (default `postgres`, which initdb creates). */
  url(name = 'postgres'): string {
    return `postgres://dream@127.0.0.1:${this.port}/${name}`;
  }

  /** A new, empty database on this server, and its URL. */
  async createDatabase(name: string): Promise<string> {
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: this.url() });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /** Starts the server (again, on the same port) and resolves when it accepts connections. */
  async up(): Promise<void> {
    const settings = ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=50'];
    const args = ['-D', path.join(this.dir, 'data'), '-p', String(this.port), '-h', '127.0.0.1', '-k', this.dir, ...settings];
    this.child = spawn(path.join(POSTGRES_BIN!, 'postgres'), args, { stdio: 'ignore', cwd: this.dir, ...RUN_AS });
    for (let i = 0; i < 200; i++) {
      if (this.child.exitCode !== null) throw new Error('postgres exited at start');
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(this.port, '127.0.0.1', () => (s.end(), resolve(true)));
        s.on('error', () => resolve(false));
      });
      if (ok && (await this.accepts())) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('postgres did not start');
  }

  /** Whether it answers a query (the port opens before recovery ends). */
  private async accepts(): Promise<boolean> {
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: this.url(), connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Stops the server (fast shutdown: connections are closed) and resolves when it has exited. */
  async down(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }

  /** Stops the server and deletes its data. */
  async close(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
