import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { engineConfig } from '../config.ts';
import {
  BACKEND_CHOICES,
  createDreamer,
  DEFAULT_MAX_SIDE,
  initBackend,
  INTENSITIES,
  isIntensity,
  PRESETS,
  resolveParams,
  resolveStyle,
  type BackendChoice,
  type Dreamer,
  type RecipeOverrides,
} from '../engine/index.ts';
import { formatDuration } from '../format.ts';
import { formatFromPath, ImageInputError, readImage, writeImage } from '../imaging/index.ts';
import { numberFlag, parseCli } from './args.ts';
import { runMain, UsageError } from './exit.ts';
import { ProgressBar } from './progress-bar.ts';

const PROG = 'dream';
const USAGE = `Usage: npm run dream -- <input> [options]
       npm run dream -- --info

Turns an image (JPEG, PNG, WebP, GIF, AVIF, TIFF) into a DeepDream nightmare.

Options:
  -o, --output FILE        where to write (.png, .jpg, .webp); default <input>-dream.png
  --intensity LEVEL        ${INTENSITIES.join(' | ')} (default medium)
  --layers A,B             layers to dream (default: the preset's, e.g. mixed3,mixed5)
  --octaves N              number of scales
  --octave-scale X         size ratio between scales (default 1.3)
  --steps N                gradient-ascent steps per octave
  --step-size X            step size in image units [0..1]
  --seed N                 random seed; the same seed gives the same image
  --max-side N             longest side to dream at (default by backend: ${Object.entries(DEFAULT_MAX_SIDE).map(([b, n]) => `${b} ${n}`).join(', ')})
  --tile-size N            images larger than this are dreamed in tiles (default 512)
  --backend B              ${BACKEND_CHOICES.join(' | ')} (default: DREAM_BACKEND or auto)
  --model NAME             model or style under models/ (default inception_v3)
  --target CLASS           with a style (npm run train): the class to grow (default: its first class)
  --info                   print backend, model and presets, then exit
  -h, --help               this text`;

function parse(argv: string[]) {
  return parseCli({
    args: argv,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      intensity: { type: 'string' },
      layers: { type: 'string' },
      octaves: { type: 'string' },
      'octave-scale': { type: 'string' },
      steps: { type: 'string' },
      'step-size': { type: 'string' },
      seed: { type: 'string' },
      'max-side': { type: 'string' },
      'tile-size': { type: 'string' },
      backend: { type: 'string' },
      model: { type: 'string' },
      target: { type: 'string' },
      info: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

async function printInfo(dreamer: Dreamer, maxSide: number): Promise<void> {
  const m = dreamer.manifest;
  const lines = [
    `backend:   ${dreamer.backend.detail}`,
    `model:     ${m.name} — ${m.title} (${dreamer.loadInfo.fromCache ? 'compiled weights from cache' : 'decoded and compiled'} in ${dreamer.loadInfo.ms} ms)`,
    `layers:    ${m.dreamLayers.join(', ')} (default ${m.defaultLayers.join(',')})`,
    ...(m.style
      ? [
          `style:     classes ${m.style.classes.join(', ')}; validation accuracy ${m.style.valAccuracy.toFixed(3)}; trunk ${m.style.trunk}; ` +
            `class weight ${m.style.objective.classWeight}; trained ${m.style.date}`,
        ]
      : []),
    `max side:  ${maxSide} px`,
    'presets:',
    ...INTENSITIES.map((i) => {
      const p = PRESETS[i];
      return `  ${i.padEnd(10)} ${p.octaves} octaves × ${p.steps} steps, step ${p.stepSize}, layers ${p.layers.join('+')}: ${p.summary}`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv);
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = engineConfig();
  const backend = v.backend ?? config.backend;
  if (!(BACKEND_CHOICES as readonly string[]).includes(backend)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}.`);
  if (v.intensity !== undefined && !isIntensity(v.intensity)) throw new UsageError(`--intensity must be one of ${INTENSITIES.join(', ')}.`);
  const overrides: RecipeOverrides = {
    intensity: v.intensity as RecipeOverrides['intensity'],
    layers: v.layers?.split(',').map((l) => l.trim()).filter(Boolean),
    octaves: numberFlag(v.octaves, 'octaves', true),
    octaveScale: numberFlag(v['octave-scale'], 'octave-scale', false),
    steps: numberFlag(v.steps, 'steps', true),
    stepSize: numberFlag(v['step-size'], 'step-size', false),
    seed: numberFlag(v.seed, 'seed', true),
    tileSize: numberFlag(v['tile-size'], 'tile-size', true),
  };
  const maxSideFlag = numberFlag(v['max-side'], 'max-side', true);
  if (maxSideFlag !== undefined && (maxSideFlag < 64 || maxSideFlag > 4096)) throw new UsageError('--max-side must be from 64 to 4096.');

  let input: string | undefined;
  let output: string | undefined;
  let bytes: Buffer | undefined;
  if (!v.info) {
    if (positionals.length !== 1) throw new UsageError(positionals.length ? 'Give one input image.' : `No input image given.\n${USAGE}`);
    input = positionals[0];
    output = v.output ?? path.join(path.dirname(input), `${path.parse(input).name}-dream.png`);
    formatFromPath(output); // refuse a bad extension before spending minutes on the dream
    try {
      bytes = await readFile(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ImageInputError(code === 'ENOENT' ? `Input file not found: ${input}` : code === 'EISDIR' ? `${input} is a folder, not an image.` : `Cannot read ${input} (${code}).`);
    }
  }

  // The backend decides the default size; the image is checked before the (slower) model load.
  const backendInfo = await initBackend(backend as BackendChoice, config.threads);
  const maxSide = maxSideFlag ?? config.maxSide ?? DEFAULT_MAX_SIDE[backendInfo.name];
  const image = bytes ? await readImage(bytes, { maxSide, maxInputPixels: config.maxInputPixels }) : null;
  const dreamer = await createDreamer({
    backend: backend as BackendChoice,
    model: v.model ?? config.model,
    threads: config.threads,
    cacheDir: config.cacheDir,
    stylesDir: config.stylesDir,
    onWarning: (m) => process.stderr.write(`${PROG}: warning: ${m}\n`),
  });
  if (!image) {
    await printInfo(dreamer, maxSide);
    return 0;
  }
  const params = { ...resolveParams(dreamer.manifest, overrides), ...(await resolveStyle(dreamer.manifest, undefined, v.target, config)) };

  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  const bar = process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
  const started = Date.now();
  try {
    const result = await dreamer.dream(image, params, { signal: abort.signal, onProgress: (p) => bar?.update(p) });
    bar?.done();
    await writeImage(result, output!);
  } finally {
    bar?.done();
    process.off('SIGINT', onSigint);
  }
  const secs = (Date.now() - started) / 1000;
  process.stdout.write(
    `Wrote ${output} (${image.width}×${image.height}) in ${formatDuration(secs)}: ${dreamer.manifest.name} ${params.layers.join('+')}, ` +
      `${params.intensity}, ${params.octaves}×${params.steps} steps, step ${params.stepSize}, seed ${params.seed}, backend ${dreamer.backend.name}` +
      `${params.style ? `, style ${params.style}, target ${params.target}` : ''}\n`,
  );
  return 0;
}

runMain(PROG, () => main(process.argv.slice(2)));
