import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './exit.ts';

/** node:util parseArgs, with its errors turned into one-line usage errors (exit code 2). */
export function parseCli<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]} (see --help)`);
  }
}

/** A numeric flag's value, or undefined when absent; a non-number is a usage error naming the flag. */
export function numberFlag(value: string | undefined, flag: string, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${flag} needs ${integer ? 'a whole number' : 'a number'}, not "${value}".`);
  }
  return n;
}
