import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord, snowflake, type RecordedRequest } from './helpers/fake-discord.ts';
import { makePhotoLike } from './helpers/images.ts';

const MAIN = path.resolve('src/bin/bot.ts');

interface Running {
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>;
  kill: (signal: NodeJS.Signals) => void;
  /** What it wrote to stdout so far. */
  stdout: () => string;
}

/** Starts the bot the way `npm start` does, with only the given environment (no .env from the developer). */
function startBot(env: Record<string, string>): Running {
  const child = spawn(process.execPath, ['--import', 'tsx/esm', MAIN], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DISCORD_TOKEN: '', DISCORD_CLIENT_ID: '', LOG_LEVEL: 'warn', DATABASE_URL: 'sqlite::memory:', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, stdout })),
  );
  return { exit, kill: (signal) => child.kill(signal), stdout: () => stdout };
}

/**
 * The packages a module loads when it is imported, following its static imports (not `import type`, erased; not
 * `await import(...)`, loaded later if at all) through the project's own files.
 */
function packagesLoadedBy(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?'([^']+)'/gm)) {
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/'));
    }
  };
  visit(path.resolve(entry));
  return packages;
}

describe('npm start', () => {
  let fake: FakeDiscord;
  const token = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.wrong.token-value';
  // The three start-up failures run side by side (each process costs a second or two of CPU to start).
  let failing: Record<'missing' | 'malformed' | 'rejected', Running>;
  beforeAll(async () => {
    fake = await FakeDiscord.start();
    failing = {
      missing: startBot({}),
      malformed: startBot({ DISCORD_TOKEN: 'x', DISCORD_CLIENT_ID: 'me' }),
      rejected: startBot({ DISCORD_TOKEN: token, DISCORD_CLIENT_ID: fake.applicationId, DISCORD_API: fake.apiBase, LOG_LEVEL: 'info' }),
    };
  });
  afterAll(async () => {
    await Promise.all(Object.values(failing ?? {}).map((r) => r.exit));
    await fake.close();
  });

  it('loads no dream backend on its main thread (nor does `npm run worker`): the engine loads in the dream workers', () => {
    const loaded = packagesLoadedBy('src/bin/compose.ts');
    // The walk sees the packages (a broken walk would find none)...
    expect([...loaded]).toEqual(expect.arrayContaining(['discord.js', 'bullmq', 'ioredis', 'sharp', 'pg']));
    // ...and none of the engine's: ~0.4 s of CPU less for every bot and worker process to start.
    expect([...loaded].filter((p) => /^(@tensorflow\/|onnx|nsfwjs)/.test(p))).toEqual([]);
    // The dream workers do load it.
    expect([...packagesLoadedBy('src/runner/dream-worker.ts')]).toEqual(expect.arrayContaining(['@tensorflow/tfjs-core', 'onnx-proto']));
  });

  it('exits with one readable line when the token is missing', async () => {
    const { code, stderr } = await failing.missing.exit;
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^deepdream-bot: DISCORD_TOKEN is not set/)]);
  });

  it('exits with one readable line when a setting is malformed', async () => {
    const { code, stderr } = await failing.malformed.exit;
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('deepdream-bot: DISCORD_CLIENT_ID must be a Discord id (17 to 20 digits), not "me".');
  });

  it('exits with one readable line when Discord rejects the token, and never prints it', async () => {
    const { code, stderr, stdout } = await failing.rejected.exit;
    expect(code).toBe(1);
    expect(stderr.trim().split('\n').at(-1)).toMatch(/^deepdream-bot: Discord rejected DISCORD_TOKEN/);
    expect(stderr + stdout).not.toContain(token);
    // It asked Discord before loading the model into its dream workers: a wrong token is answered at once.
    expect(stdout).toContain('database ready');
    expect(stdout).not.toContain('dream workers ready');
  });

  it('on SIGTERM tells waiting users, ends the running dream within the grace period, and exits 0', async () => {
    const bot = startBot({
      LOG_LEVEL: 'info',
      DISCORD_TOKEN: fake.token,
      DISCORD_CLIENT_ID: fake.applicationId,
      DISCORD_API: fake.apiBase,
      ATTACHMENT_URL_PREFIXES: fake.cdnBase,
      // A nightmare at 384 px runs for seconds, well past the grace (a dream done within it would count too).
      DREAM_MAX_SIDE: '384',
      SHUTDOWN_GRACE_MS: '300',
      // One ONNX Runtime thread, as every dream in the suite (vitest.config.ts); this environment is built from scratch.
      DREAM_THREADS: '1',
      // Straight to the dream: screening is not what shutdown is about (the real worker's dream screens its input).
      NSFW_POLICY: 'off',
    });
    const started = Date.now();
    // Its dream workers are ready and it has its guilds.
    while (!/connected to Discord/.test(bot.stdout())) {
      if (Date.now() - started > 60_000) throw new Error(`the bot did not connect:\n${bot.stdout()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const big = await makePhotoLike(400, 300, 'png');
    const asks = [0, 1, 2].map(() =>
      fake.dispatchInteraction(
        fake.chatInput({
          name: 'dream',
          user: { id: snowflake(), username: 'u', global_name: 'u', discriminator: '0', avatar: null },
          options: { intensity: 'nightmare' },
          attachments: { image: { filename: 'a.png', bytes: big } },
        }),
      ),
    );
    const edited = (i: { token: string }, text: RegExp) => (r: RecordedRequest) => r.method === 'PATCH' && r.path.includes(i.token) && text.test(JSON.stringify(r.json));
    for (const i of asks) await fake.waitForRequest(edited(i, /In the queue/), { fromIndex: 0, timeoutMs: 20_000 });
    // The engine's progress has reached its member: a real dream is running when the signal comes.
    await fake.waitForRequest((r) => asks.some((i) => edited(i, /Dreaming/)(r)), { fromIndex: 0, timeoutMs: 60_000 });
    const t = Date.now();
    bot.kill('SIGTERM');
    const { code, signal, stderr } = await bot.exit;
    expect({ code, signal, stderr: stderr.slice(-2000) }).toMatchObject({ code: 0, signal: null });
    expect(Date.now() - t).toBeLessThan(15_000);
    const last = (i: { token: string }) => JSON.stringify(fake.requests.filter((r) => r.method === 'PATCH' && r.path.includes(i.token)).at(-1)?.json);
    const outcomes = asks.map(last);
    // One was running (cancelled after the grace, or finished); the two waiting ones were told they were not run.
    expect(outcomes.filter((o) => /was not run/.test(o))).toHaveLength(2);
    expect(outcomes.filter((o) => /Cancelled|your dream is ready/.test(o))).toHaveLength(1);
  });
});
