import { availableParallelism } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { botConfig, ConfigError, engineConfig } from '../src/config.ts';

describe('engine configuration', () => {
  it('has working defaults', () => {
    expect(engineConfig({})).toEqual({
      backend: 'auto',
      model: 'inception_v3',
      maxSide: undefined,
      maxInputPixels: 40_000_000,
      concurrency: 1,
      threads: availableParallelism(),
      stylesDir: path.resolve('models'),
      cacheDir: undefined,
      maxAnimationFrames: 48,
      maxAnimationPixels: 200_000_000,
    });
  });

  it('reads the documented variables', () => {
    const cfg = engineConfig({
      DREAM_BACKEND: 'cpu',
      DREAM_MAX_SIDE: '768',
      MAX_INPUT_PIXELS: '1000000',
      DREAM_MODEL: 'mascot',
      DREAM_CONCURRENCY: '2',
      DREAM_THREADS: '3',
      DREAM_STYLES_DIR: '/data/styles',
      DREAM_MODEL_CACHE: '/data/cache',
    });
    expect(cfg).toEqual({ backend: 'cpu', model: 'mascot', maxSide: 768, maxInputPixels: 1_000_000, concurrency: 2, threads: 3, stylesDir: '/data/styles', cacheDir: '/data/cache', maxAnimationFrames: 48, maxAnimationPixels: 200_000_000 });
  });

  it('reads the animation budgets: frames dreamed, and pixels decoded', () => {
    expect(engineConfig({ MAX_ANIMATION_FRAMES: '24', MAX_ANIMATION_PIXELS: '100000000' })).toMatchObject({ maxAnimationFrames: 24, maxAnimationPixels: 100_000_000 });
    expect(() => engineConfig({ MAX_ANIMATION_FRAMES: '1' })).toThrow(/MAX_ANIMATION_FRAMES must be a whole number from 2 to 500/);
    expect(() => engineConfig({ MAX_ANIMATION_PIXELS: 'lots' })).toThrow(/MAX_ANIMATION_PIXELS/);
  });

  it('shares the cores among concurrent dreams unless DREAM_THREADS says otherwise', () => {
    expect(engineConfig({ DREAM_CONCURRENCY: String(availableParallelism() * 2) }).threads).toBe(1);
    expect(engineConfig({ DREAM_CONCURRENCY: '1' }).threads).toBe(availableParallelism());
  });

  it('names the variable and what it accepts when a value is wrong', () => {
    expect(() => engineConfig({ DREAM_BACKEND: 'cuda' })).toThrow(new ConfigError('DREAM_BACKEND must be one of auto, tensorflow, onnx, wasm, cpu, not "cuda".'));
    expect(() => engineConfig({ DREAM_MAX_SIDE: 'big' })).toThrow(/DREAM_MAX_SIDE must be a whole number from 64 to 4096, not "big"/);
    expect(() => engineConfig({ DREAM_MAX_SIDE: '10' })).toThrow(/DREAM_MAX_SIDE/);
    expect(() => engineConfig({ MAX_INPUT_PIXELS: '-5' })).toThrow(/MAX_INPUT_PIXELS/);
    expect(() => engineConfig({ DREAM_THREADS: '0' })).toThrow(/DREAM_THREADS must be a whole number from 1/);
  });

  it('reads the safety policy: block by default at 0.5, spoiler or off, a threshold from 0 to 1', () => {
    const base = { DISCORD_TOKEN: 't', DISCORD_CLIENT_ID: '123456789012345678' };
    expect(botConfig(base)).toMatchObject({ nsfwPolicy: 'block', nsfwThreshold: 0.5 });
    expect(botConfig({ ...base, NSFW_POLICY: 'spoiler', NSFW_THRESHOLD: '0.7' })).toMatchObject({ nsfwPolicy: 'spoiler', nsfwThreshold: 0.7 });
    expect(() => botConfig({ ...base, NSFW_POLICY: 'lenient' })).toThrow(/NSFW_POLICY must be one of block, spoiler, off/);
    expect(() => botConfig({ ...base, NSFW_THRESHOLD: '2' })).toThrow(new ConfigError('NSFW_THRESHOLD must be a number from 0 to 1, not "2".'));
  });

  it('reads the timings that tests shorten: progress edits, outcome retries, Redis command timeout, gateway grace', () => {
    const base = { DISCORD_TOKEN: 't', DISCORD_CLIENT_ID: '123456789012345678' };
    expect(botConfig(base)).toMatchObject({ statusEditIntervalMs: 2000, outcomeRetryDelaysMs: [1000, 4000, 15000], redisCommandTimeoutMs: 2000, gatewayGraceMs: 3000 });
    expect(botConfig({ ...base, STATUS_EDIT_INTERVAL_MS: '50', OUTCOME_RETRY_DELAYS_MS: '10, 20', REDIS_COMMAND_TIMEOUT_MS: '500', HEALTH_GATEWAY_GRACE_MS: '1000' })).toMatchObject({
      statusEditIntervalMs: 50,
      outcomeRetryDelaysMs: [10, 20],
      redisCommandTimeoutMs: 500,
      gatewayGraceMs: 1000,
    });
    for (const [name, value] of [['STATUS_EDIT_INTERVAL_MS', '-1'], ['STATUS_EDIT_INTERVAL_MS', '700000'], ['OUTCOME_RETRY_DELAYS_MS', '1,,2'], ['OUTCOME_RETRY_DELAYS_MS', 'soon'], ['REDIS_COMMAND_TIMEOUT_MS', '10'], ['HEALTH_GATEWAY_GRACE_MS', 'long']]) {
      expect(() => botConfig({ ...base, [name]: value }), `${name}=${value}`).toThrow(new RegExp(`^${name} must be `));
    }
  });

  it('reads the identify window that tests shorten (Discord\'s is 5 s)', () => {
    const base = { DISCORD_TOKEN: 't', DISCORD_CLIENT_ID: '123456789012345678' };
    expect(botConfig(base).identifyWindowMs).toBe(5000);
    expect(botConfig({ ...base, DISCORD_IDENTIFY_WINDOW_MS: '1000' }).identifyWindowMs).toBe(1000);
    expect(() => botConfig({ ...base, DISCORD_IDENTIFY_WINDOW_MS: '10' })).toThrow(/^DISCORD_IDENTIFY_WINDOW_MS must be a whole number from 100 to 60000/);
  });
});

describe('database configuration (DATABASE_URL, HISTORY_DAYS)', () => {
  const base = { DISCORD_TOKEN: 't', DISCORD_CLIENT_ID: '123456789012345678' };

  it('defaults to an embedded SQLite file under data/ and 30 days of history', () => {
    expect(botConfig(base)).toMatchObject({ database: { kind: 'sqlite', path: path.resolve('data/deepdream.sqlite') }, historyDays: 30 });
  });

  it('reads sqlite:PATH and postgres:// URLs', () => {
    expect(botConfig({ ...base, DATABASE_URL: 'sqlite:/var/lib/dream/db.sqlite' }).database).toEqual({ kind: 'sqlite', path: '/var/lib/dream/db.sqlite' });
    expect(botConfig({ ...base, DATABASE_URL: 'sqlite:rel/x.sqlite' }).database).toEqual({ kind: 'sqlite', path: path.resolve('rel/x.sqlite') });
    expect(botConfig({ ...base, DATABASE_URL: 'postgres://u:p@db:5432/dream', HISTORY_DAYS: '7' })).toMatchObject({ database: { kind: 'postgres', url: 'postgres://u:p@db:5432/dream' }, historyDays: 7 });
    expect(botConfig({ ...base, DATABASE_URL: 'postgresql://db/dream' }).database.kind).toBe('postgres');
  });

  it('refuses anything else in one sentence, without repeating a password', () => {
    expect(() => botConfig({ ...base, DATABASE_URL: 'mysql://u:secret@db/dream' })).toThrow(
      new ConfigError('DATABASE_URL must be sqlite:PATH (e.g. sqlite:data/deepdream.sqlite) or postgres://user:password@host/db, not "mysql://u:***@db/dream".'),
    );
    expect(() => botConfig({ ...base, HISTORY_DAYS: '0' })).toThrow(new ConfigError('HISTORY_DAYS must be a whole number from 1 to 3650, not "0".'));
  });
});
