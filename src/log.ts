import pino from 'pino';
import type { LogLevel } from './config.ts';

export type Logger = pino.Logger;

/**
 * One JSON line per event (pino), pretty lines when stdout is a terminal. Anything equal to a secret (the
 * Discord token) is masked, so a token never reaches a log even inside an error message or stack.
 */
export function createLogger(level: LogLevel, secrets: string[] = [], destination?: pino.DestinationStream): Logger {
  const mask = (text: string) => secrets.filter(Boolean).reduce((t, s) => t.split(s).join('[token]'), text);
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: ['token', '*.token', 'config.token', 'headers.authorization'], censor: '[token]' },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? mask(a) : a)) as Parameters<typeof method>);
      },
    },
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: (err: Error) => ({ type: err.name, message: mask(err.message), stack: err.stack && mask(err.stack) }) },
  };
  if (destination) return pino(options, destination);
  if (process.stdout.isTTY) return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss' } } });
  return pino(options);
}
