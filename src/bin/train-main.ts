import path from 'node:path';
// Only types from the engine here: it (and the configuration, which reads the engine's defaults) is imported once the
// arguments are known to be usable, so a usage error or --help answers without loading tfjs and ONNX Runtime.
import type { BackendChoice, EpochStats, TrainProgress } from '../engine/index.ts';
import { englishFormat } from '../i18n/index.ts';
import { numberFlag, parseCli } from './args.ts';
import { UsageError } from './exit.ts';
import { ProgressBar } from './progress-bar.ts';

const PROG = 'train';
const usage = ({ TRAIN_DEFAULTS, FINE_TUNE_DEFAULTS, BACKEND_CHOICES }: typeof import('../engine/index.ts')) => `Usage: npm run train -- --data <dir> --name <style> [options]

Trains a custom nightmare style: a classifier on the frozen ImageNet InceptionV3 (layers up to mixed5) that
tells your classes apart. Dream with it: npm run dream -- <image> --model <style> --target <class>.

Options:
  --data DIR          one sub-folder of images per class: DIR/cats/*.jpg, DIR/dogs/*.jpg, ...
  --name STYLE        saved to <styles folder>/STYLE/ (lower-case letters, digits, - and _)
  --epochs N          passes over the training images (default ${TRAIN_DEFAULTS.epochs}); the best on validation is kept
  --val-split X       share of each class held out for validation (default ${TRAIN_DEFAULTS.valSplit})
  --seed N            seed of the split, augmentation and order; the same seed gives the same style (default random)
  --size N            side of the square training images in px (default ${TRAIN_DEFAULTS.inputSize})
  --views N           augmented copies of each image (random crop, flip, brightness; default ${TRAIN_DEFAULTS.views})
  --fine-tune BLOCK   also train the trunk's BLOCK (a dream layer, e.g. mixed5) and the blocks above it, in a second
                      stage after the head alone; the style then dreams on its own trunk (default: head only)
  --fine-tune-epochs N  epochs of the second stage (default ${FINE_TUNE_DEFAULTS.epochs})
  --fine-tune-lr X    Adam's learning rate in the second stage (default ${FINE_TUNE_DEFAULTS.learningRate}; the head's is ${TRAIN_DEFAULTS.learningRate})
  --backend B         ${BACKEND_CHOICES.join(' | ')} (default: DREAM_BACKEND or auto)
  --models-dir DIR    where to save the style (default: DREAM_STYLES_DIR, else the project's models/)
  -h, --help          this text`;

function parse(argv: string[]) {
  return parseCli({
    args: argv,
    allowPositionals: false,
    options: {
      data: { type: 'string' },
      name: { type: 'string' },
      epochs: { type: 'string' },
      'val-split': { type: 'string' },
      seed: { type: 'string' },
      size: { type: 'string' },
      views: { type: 'string' },
      'fine-tune': { type: 'string' },
      'fine-tune-epochs': { type: 'string' },
      'fine-tune-lr': { type: 'string' },
      backend: { type: 'string' },
      'models-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

const fixed = (x: number) => x.toFixed(3);

/** One line per epoch, as Keras prints them; `*` marks the best epoch so far (the one that is kept). */
function epochLine(e: EpochStats): string {
  const width = String(e.epochs).length;
  const stage = e.stage ? `stage ${e.stage}  ` : '';
  return `${stage}epoch ${String(e.epoch).padStart(width)}/${e.epochs}  loss ${fixed(e.loss)}  acc ${fixed(e.accuracy)}  val_loss ${fixed(e.valLoss)}  val_acc ${fixed(e.valAccuracy)}${e.best ? '  *' : ''}`;
}

/** The training's progress line under the epoch lines: phase, epoch, last epoch's numbers, time left. */
function trainText(p: TrainProgress, last?: EpochStats): string {
  const stage = p.stage === 1 ? 'stage 1/2 (head) ' : p.stage === 2 ? 'stage 2/2 (fine-tuning) ' : '';
  const what = p.phase === 'reading' ? 'reading images' : p.epoch === undefined ? 'validation features' : `${stage}epoch ${p.epoch}/${p.epochs} ${p.phase === 'features' ? 'features' : 'training'}`;
  const stats = last ? `  loss ${fixed(last.loss)}  acc ${fixed(last.accuracy)}  val_acc ${fixed(last.valAccuracy)}` : '';
  return `${what}${stats}${p.phase === 'reading' ? '' : `  ETA ${englishFormat.duration(p.etaSeconds)}`}`;
}

function shown(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

/** `npm run train -- …` without the process: the exit code, or a throw that reportError turns into one line. */
export async function trainMain(argv: string[]): Promise<number> {
  const { values: v } = parse(argv);
  const engine = () => import('../engine/index.ts');
  if (v.help) {
    process.stdout.write(`${usage(await engine())}\n`);
    return 0;
  }
  if (!v.data) throw new UsageError('--data is required: a folder with one sub-folder of images per class (see --help).');
  if (!v.name) throw new UsageError('--name is required: the name to save the style under (see --help).');
  const numbers = {
    epochs: numberFlag(v.epochs, 'epochs', true),
    valSplit: numberFlag(v['val-split'], 'val-split', false),
    seed: numberFlag(v.seed, 'seed', true),
    inputSize: numberFlag(v.size, 'size', true),
    views: numberFlag(v.views, 'views', true),
    fineTuneEpochs: numberFlag(v['fine-tune-epochs'], 'fine-tune-epochs', true),
    fineTuneLearningRate: numberFlag(v['fine-tune-lr'], 'fine-tune-lr', false),
  };
  if (v['fine-tune'] === undefined && (numbers.fineTuneEpochs !== undefined || numbers.fineTuneLearningRate !== undefined)) {
    throw new UsageError('--fine-tune-epochs and --fine-tune-lr need --fine-tune BLOCK (see --help).');
  }
  const [{ engineConfig }, { BACKEND_CHOICES, trainStyle }] = await Promise.all([import('../config.ts'), engine()]);
  const config = engineConfig();
  const backend = v.backend ?? config.backend;
  if (!(BACKEND_CHOICES as readonly string[]).includes(backend)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}.`);

  const bar = process.stderr.isTTY ? new ProgressBar(process.stderr, 24) : null;
  let last: EpochStats | undefined;
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const r = await trainStyle({
      data: v.data,
      name: v.name,
      ...numbers,
      ...(v['fine-tune'] !== undefined ? { fineTune: v['fine-tune'] } : {}),
      modelsDir: v['models-dir'] ?? config.stylesDir,
      backend: backend as BackendChoice,
      threads: config.threads,
      cacheDir: config.cacheDir,
      maxInputPixels: config.maxInputPixels,
      signal: abort.signal,
      onWarning: (m) => (bar ? bar.line(`${PROG}: warning: ${m}`) : process.stderr.write(`${PROG}: warning: ${m}\n`)),
      onProgress: (p) => bar?.draw(p.fraction, trainText(p, last)),
      onEpoch: (e) => {
        last = e;
        if (bar) bar.line(epochLine(e));
        else process.stderr.write(`${epochLine(e)}\n`);
      },
    });
    bar?.done();
    const skipped = r.skipped.length
      ? `; skipped ${r.skipped.length} unreadable file${r.skipped.length === 1 ? '' : 's'} (${r.skipped.slice(0, 3).map((s) => s.file).join(', ')}${r.skipped.length > 3 ? ', …' : ''})`
      : '; no unreadable files';
    process.stdout.write(
      `Saved style ${r.manifest.name} to ${shown(r.dir)} (classes: ${r.classes.join(', ')}): validation accuracy ${fixed(r.valAccuracy)} on ${r.images.val} images ` +
        `(best epoch ${r.bestEpoch}/${r.fineTune ? `${r.fineTune.stages[1].epochs} of stage 2` : r.history.length}), ${r.images.train} training images${skipped}; ${englishFormat.duration(r.seconds)}, backend ${r.backend}, seed ${r.seed}\n` +
        (r.fineTune
          ? `Fine-tuned ${r.fineTune.blocks.join(', ')}: ${r.fineTune.stages.map((s) => `stage ${s.stage} (${s.trains}, lr ${s.learningRate}) best epoch ${s.bestEpoch}/${s.epochs} val_acc ${fixed(s.valAccuracy)}`).join('; ')}; style ${(r.fineTune.bytes / 1e6).toFixed(1)} MB\n`
          : '') +
        `Dream with it: npm run dream -- <image> --model ${v['models-dir'] ? shown(r.dir) : r.manifest.name} ${r.fineTune ? `(its ${r.fineTune.blocks.join(', ')}; add --target ${r.classes[0]} to grow a class)` : `--target ${r.classes[0]}`}\n`,
    );
    return 0;
  } finally {
    bar?.done();
    process.off('SIGINT', onSigint);
  }
}

