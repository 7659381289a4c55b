// Runs once before any test file (vitest `globalSetup`): builds the model caches that many files read — compiled
// weights and the ONNX models of a plain dream, a guided dream, a style's features, Explain and screening — so that files running side
// by side read them instead of compiling and emitting the same models at the same time.
import { createDreamer, createExplainer, createScreener } from '../src/engine/index.ts';
import type { RgbImage } from '../src/imaging/index.ts';

/** A small grey-gradient picture: enough for every network's smallest input. */
function picture(size: number): RgbImage {
  const data = new Uint8Array(size * size * 3).map((_, i) => (i * 7) % 256);
  return { data, width: size, height: size };
}

/** Runs `f` on a loaded model, then frees it. */
async function use<T extends { dispose(): Promise<void> }>(loading: Promise<T>, f: (model: T) => Promise<unknown>): Promise<void> {
  const model = await loading;
  try {
    await f(model);
  } finally {
    await model.dispose();
  }
}

export default async function warmModelCaches(): Promise<void> {
  const started = Date.now();
  const image = picture(96);
  const params = { layers: ['mixed3', 'mixed5'], octaves: 1, octaveScale: 1.3, steps: 1, stepSize: 0.01, seed: 1, tileSize: 512 };
  await Promise.all([
    use(createDreamer(), async (dreamer) => {
      await dreamer.dream(image, params);
      await dreamer.dream(image, { ...params, guide: { image } });
      await dreamer.pooledFeatures(image, 'mixed5'); // styles: training and classifying
    }),
    use(createExplainer(), (explainer) => explainer.explain(image)),
    use(createScreener(), (screener) => screener.screen(image)),
  ]);
  console.log(`model caches ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
