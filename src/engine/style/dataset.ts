// A folder of class folders (as Keras' image_dataset_from_directory reads), decoded and split.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../errors.ts';
import { readImage } from '../../imaging/read-image.ts';
import type { RgbImage } from '../../imaging/rgb-image.ts';
import { seededRandom } from '../random.ts';

/** Bad training data or options: the message is one line meant for the person who ran the training. */
export class StyleDataError extends UserError {
  override name = 'StyleDataError';
  constructor(message: string) {
    super(message, 'style-data');
  }
}

export interface DatasetFile {
  /** Path relative to the data folder, e.g. `cats/01.jpg`. */
  file: string;
  label: number;
}

export interface DatasetScan {
  dir: string;
  /** Sub-folder names, sorted: the head's output order. */
  classes: string[];
  files: DatasetFile[];
}

export interface DatasetImage extends DatasetFile {
  image: RgbImage;
}

export interface SkippedFile {
  file: string;
  reason: string;
}

const isHidden = (name: string) => name.startsWith('.');
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Lists the class folders and their files; refuses a missing folder, one without class folders, or a single class. */
export async function scanDataset(dir: string): Promise<DatasetScan> {
  const st = await stat(dir).catch(() => null);
  if (!st) throw new StyleDataError(`Data folder not found: ${dir}`);
  if (!st.isDirectory()) throw new StyleDataError(`${dir} is a file; --data needs a folder with one sub-folder of images per class.`);
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !isHidden(e.name));
  const classes = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  if (classes.length === 0) {
    const loose = entries.filter((e) => e.isFile()).length;
    throw new StyleDataError(
      `${dir} has no class folders${loose ? ` (only ${plural(loose, 'loose file')})` : ' (it is empty)'}: put each class's images in a sub-folder, e.g. ${path.join(dir, 'cats')}/ and ${path.join(dir, 'dogs')}/.`,
    );
  }
  if (classes.length === 1) throw new StyleDataError(`${dir} has only one class folder ("${classes[0]}"): a style needs at least two classes to tell apart.`);
  const files: DatasetFile[] = [];
  for (const [label, name] of classes.entries()) {
    const inClass = (await readdir(path.join(dir, name), { withFileTypes: true })).filter((e) => e.isFile() && !isHidden(e.name)).map((e) => e.name).sort();
    if (inClass.length === 0) throw new StyleDataError(`Class folder "${name}" in ${dir} is empty: every class needs at least 2 images.`);
    files.push(...inClass.map((f) => ({ file: `${name}/${f}`, label })));
  }
  return { dir, classes, files };
}

/**
 * Reads an image as training does: decoded at 1.25 × the training size on its longest side (the crops are
 * taken from that). Throws ImageInputError for anything that is not a readable image.
 */
export async function readTrainingImage(file: string, inputSize: number, maxInputPixels = 40_000_000): Promise<RgbImage> {
  const image = await readImage(await readFile(file), { maxSide: Math.round(inputSize * 1.25), maxInputPixels });
  return { data: image.data, width: image.width, height: image.height };
}

export interface ReadDatasetOptions {
  /** Side of the square training images. */
  inputSize: number;
  maxInputPixels: number;
  onFile?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Decodes every file; the ones that are not readable images are skipped and reported, not fatal. */
export async function readDataset(scan: DatasetScan, opts: ReadDatasetOptions): Promise<{ images: DatasetImage[]; skipped: SkippedFile[] }> {
  const results: (DatasetImage | SkippedFile)[] = new Array(scan.files.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < scan.files.length) {
      const i = next++;
      const f = scan.files[i];
      if (opts.signal?.aborted) return;
      try {
        results[i] = { ...f, image: await readTrainingImage(path.join(scan.dir, f.file), opts.inputSize, opts.maxInputPixels) };
      } catch (err) {
        results[i] = { file: f.file, reason: (err as Error).message };
      }
      opts.onFile?.(++done, scan.files.length);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const images = results.filter((r): r is DatasetImage => 'image' in r);
  const skipped = results.filter((r): r is SkippedFile => !('image' in r));
  for (const [label, name] of scan.classes.entries()) {
    const n = images.filter((im) => im.label === label).length;
    if (n < 2) {
      const bad = skipped.filter((s) => s.file.startsWith(`${name}/`)).length;
      throw new StyleDataError(`Class "${name}" has ${plural(n, 'readable image')}${bad ? ` (${plural(bad, 'unreadable file')} skipped)` : ''}: every class needs at least 2.`);
    }
  }
  return { images, skipped };
}

/** Per class, a seeded shuffle then `valSplit` of the images (at least one, never all) held out for validation. */
export function splitDataset<T extends DatasetFile>(items: T[], classes: number, valSplit: number, seed: number): { train: T[]; val: T[] } {
  const random = seededRandom(seed);
  const train: T[] = [];
  const val: T[] = [];
  for (let label = 0; label < classes; label++) {
    const mine = shuffle(items.filter((it) => it.label === label), random);
    const nVal = Math.min(mine.length - 1, Math.max(1, Math.round(mine.length * valSplit)));
    val.push(...mine.slice(0, nVal));
    train.push(...mine.slice(nVal));
  }
  return { train, val };
}

/** Fisher–Yates with the given generator (a copy; the input is left alone). */
export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
