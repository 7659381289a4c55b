import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, vi } from 'vitest';
import { dreamMain } from '../../src/bin/dream-args.ts';
import { reportError } from '../../src/bin/exit.ts';
import { explainMain } from '../../src/bin/explain-main.ts';
import { trainMain } from '../../src/bin/train-main.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const run = promisify(execFile);

/**
 * Runs `npm run dream -- …` as a user would, in a real process (about a second of CPU to start: tsx and imports).
 * For what only a process shows: the exit code, and everything it prints.
 */
export async function dreamProcess(args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx/esm', path.resolve('src/bin/dream.ts'), ...args], { env: { ...process.env, DEBUG: '' }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * The same command in this process: `src/bin/dream.ts` is `runMain('dream', () => dreamMain(argv))`, and runMain exits
 * with the code dreamMain returns, or with reportError's code after it prints its one line; so this gives the exit code
 * and what would be printed, without starting a process.
 */
export function dreamInProcess(args: string[]): Promise<CliResult> {
  return cliInProcess('dream', args);
}

/** Each CLI's `main`: `src/bin/<prog>.ts` is `runMain(prog, () => main(argv))`. */
const MAINS = {
  dream: dreamMain,
  train: trainMain,
  explain: explainMain,
} satisfies Record<string, (argv: string[]) => Promise<number>>;

/** `npm run <prog> -- …` in this process, as dreamInProcess does for the dream command. */
export async function cliInProcess(prog: keyof typeof MAINS, args: string[]): Promise<CliResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => stdout.push(String(chunk)) > 0);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => stderr.push(String(chunk)) > 0);
  const debug = process.env.DEBUG;
  process.env.DEBUG = '';
  try {
    const code = await MAINS[prog](args).catch((e: unknown) => reportError(e, prog));
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    out.mockRestore();
    err.mockRestore();
    if (debug === undefined) delete process.env.DEBUG;
    else process.env.DEBUG = debug;
  }
}

/** One line on stderr, "dream: …", matching `pattern`, a non-zero exit code and no stack trace. */
export function expectOneLineError(r: CliResult, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^dream: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}
