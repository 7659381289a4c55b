import { createServer } from 'node:net';

/** Any free port the OS picks (Linux: 32768–60999), for a server that holds it until the test ends. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const BLOCK = 400;
let turn = 0;

/**
 * A free port for a server that a test stops and starts again on the same port (Redis, Postgres). An OS-picked port
 * is not safe there: while one file's server is down, a file running beside it can be handed the same port, and the
 * restarted server then fails to bind while its test talks to the other file's server. So these ports come from
 * below the OS's range (where port-0 listeners never land), in a block of this vitest worker's own.
 */
export async function servicePort(): Promise<number> {
  const worker = Number(process.env.VITEST_POOL_ID ?? 0) % 24;
  const base = 21000 + worker * BLOCK;
  for (let i = 0; i < BLOCK; i++) {
    const port = base + ((process.pid + turn++) % BLOCK);
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port in ${base}–${base + BLOCK - 1}`);
}

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise((r) => server.close(r));
  return ok;
}
