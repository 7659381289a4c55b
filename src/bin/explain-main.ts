import { readFile } from 'node:fs/promises';
import path from 'node:path';
// Only types from the engine here: it (and the configuration, which reads the engine's defaults) is imported once the
// arguments are known to be usable, so a usage error answers without loading tfjs and ONNX Runtime.
import type { BackendChoice, Explanation } from '../engine/index.ts';
import {
  formatFromPath,
  ImageInputError,
  overlayHeatmap,
  readImage,
  sideBySide,
  textRenderingAvailable,
  writeImage,
  type RgbImage,
} from '../imaging/index.ts';
import { numberFlag, parseCli } from './args.ts';
import { UsageError } from './exit.ts';

const PROG = 'explain';
/** Longest side the picture (and so the written image) is read at; the classifier itself reads 224×224. */
const MAX_SIDE = 1024;

const usage = ({ DEFAULT_EXPLAIN_MODEL, BACKEND_CHOICES }: typeof import('../engine/index.ts')) => `Usage: npm run explain -- <input> [options]

Shows what an ImageNet classifier sees in a picture: its most probable labels, and where the evidence for one
label lies (Grad-CAM), painted over the picture (blue: none, red: the most).

Options:
  -o, --output FILE   where to write the overlay (.png, .jpg, .webp); default <input>-explain.png
  --target LABEL      the label to paint (a name as listed, e.g. "crane (bird)", a WordNet id or a class
                      index); default: the most probable label
  --top N             how many labels to list (default 5)
  --model NAME        ${DEFAULT_EXPLAIN_MODEL} (default) or a style trained with npm run train
  --side-by-side      write the picture and its overlay side by side, captioned with the top 3 labels
  --alpha X           opacity of the heat over the picture, 0..1 (default 0.5)
  --backend B         ${BACKEND_CHOICES.join(' | ')} (default: DREAM_BACKEND or auto)
  -h, --help          this text`;

function parse(argv: string[]) {
  return parseCli({
    args: argv,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      target: { type: 'string' },
      top: { type: 'string' },
      model: { type: 'string' },
      'side-by-side': { type: 'boolean' },
      alpha: { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** "31.2%", "<0.1%". */
function percent(p: number): string {
  const v = p * 100;
  return v > 0 && v < 0.1 ? '<0.1%' : `${v.toFixed(1)}%`;
}

async function sideBySidePanel(image: RgbImage, result: Explanation, overlay: RgbImage): Promise<RgbImage> {
  const top3 = result.top.slice(0, 3).map((s) => `${s.label} ${percent(s.probability)}`);
  return sideBySide(
    [
      { image, caption: top3 },
      { image: overlay, caption: [`heat: ${result.target.label}`, `${percent(result.target.probability)}`] },
    ],
    { legend: true },
  );
}

/** `npm run explain -- …` without the process: the exit code, or a throw that reportError turns into one line. */
export async function explainMain(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv);
  const engine = () => import('../engine/index.ts');
  if (v.help) {
    process.stdout.write(`${usage(await engine())}\n`);
    return 0;
  }
  const top = numberFlag(v.top, 'top', true) ?? 5;
  if (top < 1 || top > 1000) throw new UsageError('--top must be from 1 to 1000.');
  const alpha = numberFlag(v.alpha, 'alpha', false) ?? 0.5;
  if (alpha < 0 || alpha > 1) throw new UsageError('--alpha must be from 0 to 1.');
  if (v.target !== undefined && !v.target.trim()) throw new UsageError('--target needs a label.');
  if (positionals.length !== 1) throw new UsageError(positionals.length ? 'Give one input image.' : `No input image given.\n${usage(await engine())}`);
  const [{ engineConfig }, { BACKEND_CHOICES, createExplainer, DEFAULT_EXPLAIN_MODEL }] = await Promise.all([import('../config.ts'), engine()]);
  const config = engineConfig();
  const backend = v.backend ?? config.backend;
  if (!(BACKEND_CHOICES as readonly string[]).includes(backend)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}.`);
  const input = positionals[0];
  const output = v.output ?? path.join(path.dirname(input), `${path.parse(input).name}-explain.png`);
  formatFromPath(output); // refuse a bad extension before loading anything
  let bytes: Buffer;
  try {
    bytes = await readFile(input);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageInputError(code === 'ENOENT' ? `Input file not found: ${input}` : code === 'EISDIR' ? `${input} is a folder, not an image.` : `Cannot read ${input} (${code}).`);
  }
  const image = await readImage(bytes, { maxSide: MAX_SIDE, maxInputPixels: config.maxInputPixels });

  const explainer = await createExplainer({
    model: v.model ?? DEFAULT_EXPLAIN_MODEL,
    backend: backend as BackendChoice,
    threads: config.threads,
    cacheDir: config.cacheDir,
    stylesDir: config.stylesDir,
    onWarning: (m) => process.stderr.write(`${PROG}: warning: ${m}\n`),
  });
  try {
    const result = await explainer.explain(image, { target: v.target, top });
    const overlay = overlayHeatmap(image, result.heatmap, { alpha });
    if (v['side-by-side'] && !(await textRenderingAvailable())) {
      process.stderr.write(`${PROG}: warning: no fonts found, so the captions are left out (install fonts-dejavu-core)\n`);
    }
    await writeImage(v['side-by-side'] ? await sideBySidePanel(image, result, overlay) : overlay, output);
    const width = Math.max(...result.top.map((s) => percent(s.probability).length));
    const lines = result.top.map((s) => `${percent(s.probability).padStart(width)}  ${s.label}`);
    process.stdout.write(
      `${lines.join('\n')}\nWrote ${output}: where "${result.target.label}" (${percent(result.target.probability)}) comes from, ` +
        `${explainer.manifest.name}, backend ${explainer.backend.name}\n`,
    );
  } finally {
    await explainer.dispose();
  }
  return 0;
}

