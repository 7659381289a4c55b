import { ConfigError } from '../config.ts';
import { DreamCancelledError, DreamParamsError } from '../engine/dream.ts';
import { ModelError } from '../engine/model/manifest.ts';
import { ImageInputError, OutputFormatError } from '../imaging/index.ts';

/** Bad command-line usage. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const USER_ERRORS = [UsageError, ConfigError, ImageInputError, OutputFormatError, DreamParamsError, ModelError];

/** Prints one readable line for an error and returns the exit code; stack traces only with DEBUG set. */
export function reportError(err: unknown, prog: string): number {
  if (err instanceof DreamCancelledError) {
    process.stderr.write(`${prog}: cancelled; no output written.\n`);
    return 130;
  }
  const known = USER_ERRORS.some((cls) => err instanceof cls);
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${prog}: ${known ? '' : 'unexpected error: '}${message.split('\n')[0]}\n`);
  if (!known && process.env.DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return err instanceof UsageError ? 2 : 1;
}
