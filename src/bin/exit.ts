import { CancelledError, isUserError, UserError } from '../errors.ts';

/** Bad command-line usage (exit code 2). */
export class UsageError extends UserError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, 'usage');
  }
}

/** Prints one readable line for an error and returns the exit code; stack traces only with DEBUG set. */
export function reportError(err: unknown, prog: string): number {
  if (err instanceof CancelledError) {
    process.stderr.write(`${prog}: cancelled; no output written.\n`);
    return 130;
  }
  const known = isUserError(err);
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${prog}: ${known ? '' : 'unexpected error: '}${message.split('\n')[0]}\n`);
  if (!known && process.env.DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return err instanceof UsageError ? 2 : 1;
}

/**
 * Runs an entry point: exits with the code `main` returns (a long-running one returns nothing and keeps the process),
 * or with one readable line and a non-zero code when it throws.
 */
export function runMain(prog: string, main: () => Promise<number | void>): void {
  main().then(
    (code) => {
      if (typeof code === 'number') process.exit(code);
    },
    (err: unknown) => process.exit(reportError(err, prog)),
  );
}
