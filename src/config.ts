import 'dotenv/config';
import { BACKEND_CHOICES, type BackendChoice } from './engine/backend.ts';

/** A setting that is missing or malformed; the message names the variable and what it accepts. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, not "${raw}".`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!(choices as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${choices.join(', ')}, not "${raw}".`);
  return raw as T;
}

/** Longest side a dream is computed at when nothing says otherwise: what each backend does in reasonable time. */
export const DEFAULT_MAX_SIDE: Record<'tensorflow' | 'wasm' | 'cpu', number> = { tensorflow: 1024, wasm: 512, cpu: 384 };

export interface EngineConfig {
  backend: BackendChoice;
  model: string;
  /** Undefined: pick by backend (DEFAULT_MAX_SIDE). */
  maxSide?: number;
  maxInputPixels: number;
}

/** Engine settings from the environment (and .env), validated. */
export function engineConfig(env: Env = process.env): EngineConfig {
  return {
    backend: oneOf(env, 'DREAM_BACKEND', BACKEND_CHOICES, 'auto'),
    model: env.DREAM_MODEL?.trim() || 'inception_v3',
    maxSide: int(env, 'DREAM_MAX_SIDE', undefined, 64, 4096),
    maxInputPixels: int(env, 'MAX_INPUT_PIXELS', 40_000_000, 1)!,
  };
}
