// Runs once before any test file (vitest `globalSetup`): builds the model caches that many files read — compiled
// weights and the ONNX models of a plain dream, a guided dream, a style's features, Explain and screening — so that files running side
// by side read them instead of compiling and emitting the same models at the same time.
//
// Loading the three models only to find their caches complete cost ~8 s of CPU a run (in vitest's own process), so a
// stamp in the cache folder records what the caches were built from — the engine's source, the model folders, the
// packages that shape them — and the files then in the cache; while all of that is unchanged, the warm-up is skipped.
// A wrong skip would cost only speed: any file whose cache is missing compiles it itself.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RgbImage } from '../src/imaging/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODELS = path.join(ROOT, 'models');
const CACHE = path.join(MODELS, '.cache');
const STAMP = path.join(CACHE, 'test-warm-up.json');
/** Packages whose version changes what the engine compiles or emits. */
const PACKAGES = ['nsfwjs', 'onnx-proto', 'onnxruntime-node', '@tensorflow/tfjs-core'];

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

/** Every file under `dir` (relative path → size), except the stamp. */
async function listFiles(dir: string): Promise<Record<string, number>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const files: Record<string, number> = {};
  for (const e of entries) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    if (file !== STAMP) files[path.relative(dir, file)] = (await stat(file)).size;
  }
  return files;
}

/** What the caches are built from: the engine's source, the model folders (contents or identity), package versions. */
async function sourcesHash(): Promise<string> {
  const hash = createHash('sha256');
  const engine = path.join(ROOT, 'src', 'engine');
  for (const file of Object.keys(await listFiles(engine)).sort()) hash.update(file).update(await readFile(path.join(engine, file)));
  for (const [file, size] of Object.entries(await listFiles(MODELS)).sort()) {
    if (file.startsWith(`.cache${path.sep}`)) continue;
    hash.update(file).update(file.endsWith('.json') ? await readFile(path.join(MODELS, file)) : `${size}:${(await stat(path.join(MODELS, file))).mtimeMs}`);
  }
  for (const name of PACKAGES) {
    const pkg = await readFile(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8').catch(() => '{}');
    hash.update(`${name}@${(JSON.parse(pkg) as { version?: string }).version}`);
  }
  return hash.digest('hex');
}

/** True when the stamp matches these sources and every file it lists is still in the cache, at its size. */
async function cachesWarm(sources: string): Promise<boolean> {
  const stamp = await readFile(STAMP, 'utf8').then((t) => JSON.parse(t) as { sources?: string; files?: Record<string, number> }, () => null);
  if (!stamp?.files || stamp.sources !== sources) return false;
  const now = await listFiles(CACHE);
  return Object.entries(stamp.files).every(([file, size]) => now[file] === size);
}

async function warm(): Promise<void> {
  // Loaded only when needed: the engine (ONNX Runtime, tfjs) is most of this process's start-up.
  const { createDreamer, createExplainer, createScreener } = await import('../src/engine/index.ts');
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
}

export default async function warmModelCaches(): Promise<void> {
  const started = Date.now();
  const sources = await sourcesHash();
  if (await cachesWarm(sources)) return;
  await warm();
  // Best effort: without a stamp the next run only warms up again.
  await mkdir(CACHE, { recursive: true })
    .then(async () => writeFile(STAMP, JSON.stringify({ sources, files: await listFiles(CACHE) })))
    .catch((err: Error) => console.warn(`model caches: no stamp written (${err.message})`));
  console.log(`model caches ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
