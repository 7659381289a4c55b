import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { servicePort } from './ports.ts';

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));

/** A throw-away redis-server on 127.0.0.1 (no persistence) that a test can stop, freeze and start again. */
export class TestRedis {
  private child: ChildProcess | null = null;

  private constructor(readonly port: number) {}

  static async start(): Promise<TestRedis> {
    if (!REDIS_SERVER) throw new Error('redis-server is not installed: apt-get install redis-server (.ci/run does this)');
    const redis = new TestRedis(await servicePort());
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * Starts the server (again, on the same port) and resolves when it answers, as itself: a server that another test
   * left on the port would answer too, and this one would have failed to bind.
   */
  async up(): Promise<void> {
    const child = spawn(REDIS_SERVER!, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    this.child = child;
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`redis-server exited at start (port ${this.port} taken?)`);
      const pid = await serverPid(this.port);
      if (pid === child.pid) return;
      if (pid !== undefined) throw new Error(`port ${this.port} is held by another redis-server (pid ${pid})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('redis-server did not start');
  }

  /** Kills the server (its data is gone) and resolves when it has exited. */
  async down(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Freezes the server (connections stay open, nothing answers) or thaws it. */
  freeze(frozen: boolean): void {
    this.child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }
}

/** The process id of the redis-server answering on the port (INFO server), or undefined if none answers yet. */
function serverPid(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    let reply = '';
    const s = connect(port, '127.0.0.1', () => s.write('INFO server\r\n'));
    const done = (pid: number | undefined) => (s.destroy(), resolve(pid));
    s.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const m = /process_id:(\d+)/.exec(reply);
      if (m) done(Number(m[1]));
    });
    s.on('error', () => done(undefined));
    s.on('close', () => done(undefined));
    s.setTimeout(2000, () => done(undefined));
  });
}
