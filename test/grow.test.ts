import { describe, expect, it } from 'vitest';
import { dream, type DreamParams } from '../src/engine/dream.ts';
import type { FloatImage } from '../src/engine/float-image.ts';
import type { GradientNetwork, LayerActivations } from '../src/engine/gradient-network.ts';
import { createExplainer, explainLabels, resolveClass, resolveParams, loadManifest, SOFT_STEP_SCALE, PRESETS } from '../src/engine/index.ts';
import { lapNormalise } from '../src/engine/lapnorm.ts';
import { english, errorText, messagesFor } from '../src/i18n/index.ts';
import type { ErrorDetail } from '../src/errors.ts';
import { makePhotoLikeRgb } from './helpers/images.ts';
import { stockDreamer } from './helpers/model.ts';

// Issue 19, the engine side: ImageNet classes, channels, soft dreams. Small pictures and few steps.

const rms = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);

describe('soft normalisation (Laplacian pyramid)', () => {
  it('gives unit RMS and lifts a faint fine band that a strong coarse one drowns', () => {
    const h = 64;
    const w = 96;
    const coarse = new Float32Array(h * w * 3);
    const fine = new Float32Array(h * w * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
      coarse[(y * w + x) * 3 + c] = 100 * Math.sin((2 * Math.PI * x) / w);
      fine[(y * w + x) * 3 + c] = (x + y) % 2 ? 0.5 : -0.5;
    }
    const grad = coarse.map((v, i) => v + fine[i]);
    // Share of the fine pattern in a unit-RMS gradient: under 1 % before (classic), a band of its own after.
    const share = (g: Float32Array) => g.reduce((s, v, i) => s + v * fine[i], 0) / (rms(fine) * rms(g) * g.length);
    const classic = share(grad);
    lapNormalise(grad, h, w);
    expect(rms(grad)).toBeCloseTo(1, 3);
    expect(classic).toBeLessThan(0.01);
    expect(share(grad)).toBeGreaterThan(0.1);
  });
});

describe('recipes that grow something', () => {
  it('a target without a style is an ImageNet class, named in English, Japanese, by WordNet id or index', async () => {
    const inception = await loadManifest('inception_v3');
    const index = String((await explainLabels()).indexOf('goldfish'));
    for (const typed of ['goldfish', 'Goldfish', '金魚', 'n01443537', index]) expect(await resolveClass(inception, undefined, typed, {})).toEqual({ target: 'goldfish' });
  });

  it('a typo suggests the close match, "crane" asks which, and the sentences exist in Japanese', async () => {
    const inception = await loadManifest('inception_v3');
    await expect(resolveClass(inception, undefined, 'goldfsh', {})).rejects.toThrow('Unknown class "goldfsh" for darknet_tiny. Close matches: goldfish, goldfinch.');
    await expect(resolveClass(inception, undefined, 'crane', {})).rejects.toThrow('"crane" is ambiguous for darknet_tiny: say "crane (bird)" or "crane (machine)".');
    const details: ErrorDetail[] = [
      { code: 'channel.bad', params: { value: 'x:1', model: 'inception_v3', layers: ['mixed4'] } },
      { code: 'channel.out-of-range', params: { layer: 'mixed4', channel: 5000, count: 768 } },
      { code: 'channel.silent', params: { channels: ['mixed5:312'] } },
      { code: 'model.unknown', params: { model: 'x', installed: ['inception_v3'] } },
    ];
    for (const d of details) expect(errorText(messagesFor('ja'), { message: '', detail: d })).not.toBe(errorText(english, { message: '', detail: d }));
  });

  it('a class grows alone and soft by default (at the preset step; soft layers at a scaled one), beside layers when they are given, and channels mix with layers', async () => {
    const m = await loadManifest('inception_v3');
    const alone = resolveParams(m, { target: 'goldfish', seed: 1 });
    expect(alone).toMatchObject({ layers: [], soft: true, target: 'goldfish', stepSize: PRESETS.medium.stepSize });
    expect(resolveParams(m, { soft: true, seed: 1 }).stepSize).toBe(Math.round(PRESETS.medium.stepSize * SOFT_STEP_SCALE * 1e4) / 1e4);
    expect(resolveParams(m, { target: 'goldfish', layers: ['mixed3'], seed: 1 })).toMatchObject({ layers: ['mixed3'], target: 'goldfish', stepSize: PRESETS.medium.stepSize });
    expect(resolveParams(m, { target: 'goldfish', soft: false, seed: 1 }).soft).toBeUndefined();
    expect(resolveParams(m, { layers: ['mixed3', 'mixed4:97'], seed: 1 }).layers).toEqual(['mixed3', 'mixed4:97']);
    expect(() => resolveParams(m, { layers: ['mixed4:x'] })).toThrow(/"mixed4:x" is not a layer or layer:channel of inception_v3/);
  });
});

/** A one-layer stand-in network whose activations are zero on images smaller than `wakesAt` px. */
function silentNet(wakesAt: number): GradientNetwork {
  const C = 4;
  return {
    hasLayer: (l) => l === 'L',
    channels: () => C,
    async lossAndGradient(image: FloatImage) {
      const gradient = new Float32Array(image.data.length);
      // Seam-like noise only: what a silent channel gives once a roll wakes it.
      gradient[0] = 1;
      return { loss: 0, gradient };
    },
    async pooledFeatures() {
      return new Float32Array(C);
    },
    async activations(image: FloatImage, layer: string): Promise<LayerActivations> {
      const data = new Float32Array(image.width * image.height * C);
      if (Math.min(image.width, image.height) >= wakesAt) data.fill(1);
      return { data, height: image.height, width: image.width, channels: C, ...(layer ? {} : {}) };
    },
    async dispose() {},
  };
}

describe('channel dreams', () => {
  const picture = makePhotoLikeRgb(96, 96);
  const params: DreamParams = { layers: ['L:2'], octaves: 3, octaveScale: 1.5, steps: 2, stepSize: 0.02, seed: 1, tileSize: 512 };

  it('a channel silent at every scale is refused in one sentence, not grown as seam noise', async () => {
    await expect(dream(silentNet(10_000), picture, params, { minSide: 8 })).rejects.toThrow('Channel L:2 never fires on this picture, so there is nothing to grow: pick another channel or a whole layer.');
  });

  it('scales where the channel is silent are skipped, and the caller is told', async () => {
    const notes: string[] = [];
    const steps: number[] = [];
    await dream(silentNet(90), picture, params, { minSide: 8, onNote: (n) => notes.push(n), onProgress: (p) => steps.push(p.octave) });
    expect(notes).toEqual(['L:2: silent at 2 of 3 scales; those are skipped.']);
    expect(steps).toEqual([3, 3]);
  });

  it('on the real network: a channel out of range names the layer\'s count; two channels grow different pictures', async () => {
    const dreamer = await stockDreamer();
    const small = makePhotoLikeRgb(96, 80);
    const p = { ...resolveParams(dreamer.manifest, { seed: 3, octaves: 1, steps: 3 }) };
    await expect(dreamer.dream(small, { ...p, layers: ['mixed4:5000'] })).rejects.toThrow('Layer mixed4 has 768 channels (0 to 767): there is no channel 5000.');
    const a = await dreamer.dream(small, { ...p, layers: ['mixed4:97'] });
    const b = await dreamer.dream(small, { ...p, layers: ['mixed4:300'] });
    let diff = 0;
    for (let i = 0; i < a.data.length; i++) diff += Math.abs(a.data[i] - b.data[i]);
    expect(diff / a.data.length).toBeGreaterThan(2);
  });
});

describe('class dreams on the real networks', () => {
  it('growing goldfish raises the classifier\'s goldfish score, alone and beside InceptionV3\'s layers', async () => {
    const dreamer = await stockDreamer();
    const explainer = await createExplainer();
    const picture = makePhotoLikeRgb(112, 112);
    const goldfish = async (img: typeof picture) => (await explainer.explain(img, { target: 'goldfish', top: 1 })).target.probability;
    const base = await goldfish(picture);
    const alone = await dreamer.dream(picture, resolveParams(dreamer.manifest, { target: 'goldfish', octaves: 2, steps: 8, seed: 2 }));
    expect(await goldfish(alone)).toBeGreaterThan(base * 10);
    const hybrid = await dreamer.dream(picture, resolveParams(dreamer.manifest, { target: 'goldfish', layers: ['mixed3'], octaves: 1, steps: 4, seed: 2 }));
    expect(await goldfish(hybrid)).toBeGreaterThan(base);
    await explainer.dispose();
  });
});
