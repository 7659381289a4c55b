import { describe, expect, it } from 'vitest';
import { ConfigError, engineConfig } from '../src/config.ts';

describe('engine configuration', () => {
  it('has working defaults', () => {
    expect(engineConfig({})).toEqual({ backend: 'auto', model: 'inception_v3', maxSide: undefined, maxInputPixels: 40_000_000 });
  });

  it('reads the documented variables', () => {
    const cfg = engineConfig({ DREAM_BACKEND: 'cpu', DREAM_MAX_SIDE: '768', MAX_INPUT_PIXELS: '1000000', DREAM_MODEL: 'mascot' });
    expect(cfg).toEqual({ backend: 'cpu', model: 'mascot', maxSide: 768, maxInputPixels: 1_000_000 });
  });

  it('names the variable and what it accepts when a value is wrong', () => {
    expect(() => engineConfig({ DREAM_BACKEND: 'cuda' })).toThrow(new ConfigError('DREAM_BACKEND must be one of auto, tensorflow, wasm, cpu, not "cuda".'));
    expect(() => engineConfig({ DREAM_MAX_SIDE: 'big' })).toThrow(/DREAM_MAX_SIDE must be a whole number from 64 to 4096, not "big"/);
    expect(() => engineConfig({ DREAM_MAX_SIDE: '10' })).toThrow(/DREAM_MAX_SIDE/);
    expect(() => engineConfig({ MAX_INPUT_PIXELS: '-5' })).toThrow(/MAX_INPUT_PIXELS/);
  });
});
