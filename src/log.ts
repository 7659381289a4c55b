import pino from 'pino';
import type { LogLevel } from './config.ts';

export type Logger = pino.Logger;

/**
 * One JSON line per event (pino), readable lines on a terminal. Anything that looks like a Discord token is
 * masked, so a token never reaches a log even inside an error message.
 */
export function createLogger(level: LogLevel, secrets: string[] = []): Logger {
  const mask = (text: string) => secrets.filter(Boolean).reduce((t, s) => t.split(s).join('[token]'), text);
  return pino({
    level,
    redact: { paths: ['token', '*.token', 'config.token', 'headers.authorization'], censor: '[token]' },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? mask(a) : a)) as Parameters<typeof method>);
      },
    },
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: (err: Error) => ({ type: err.name, message: mask(err.message), stack: err.stack && mask(err.stack) }) },
  });
}
