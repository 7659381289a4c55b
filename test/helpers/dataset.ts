// A synthetic two-class image dataset (stripes vs dots), generated from raw pixels with sharp: no downloads.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { rng, type RawRgb } from './images.ts';

type Rgb = [number, number, number];

function randomColour(random: () => number): Rgb {
  return [random() * 255, random() * 255, random() * 255].map(Math.round) as Rgb;
}

/** Two colours far enough apart that the pattern is visible. */
function colourPair(random: () => number): [Rgb, Rgb] {
  for (;;) {
    const a = randomColour(random);
    const b = randomColour(random);
    if (Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]) > 120) return [a, b];
  }
}

/** Parallel stripes at a random angle, period and phase, in two random colours. */
export function makeStripesRgb(width: number, height: number, random: () => number): RawRgb {
  const [bg, fg] = colourPair(random);
  const angle = random() * Math.PI;
  const period = 8 + random() * 14;
  const phase = random() * period;
  const [cx, sy] = [Math.cos(angle), Math.sin(angle)];
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (((x * cx + y * sy + phase) % period) + period) % period;
      data.set(t < period / 2 ? fg : bg, (y * width + x) * 3);
    }
  }
  return { data, width, height };
}

/** Round dots of random sizes at random places, in random colours on a random background. */
export function makeDotsRgb(width: number, height: number, random: () => number): RawRgb {
  const [bg, fg] = colourPair(random);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(bg, i * 3);
  const count = 8 + Math.floor(random() * 14);
  for (let d = 0; d < count; d++) {
    const r = 3 + random() * 7;
    const cx = random() * width;
    const cy = random() * height;
    const colour = random() < 0.7 ? fg : randomColour(random);
    for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(height, Math.ceil(cy + r)); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(width, Math.ceil(cx + r)); x++) {
        if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) data.set(colour, (y * width + x) * 3);
      }
    }
  }
  return { data, width, height };
}

export const PATTERN_CLASSES = ['dots', 'stripes'] as const;

export interface PatternDatasetOptions {
  perClass?: number;
  seed?: number;
  /** Files with these paths (relative to `dir`, e.g. `dots/broken.jpg`) get bytes that are not an image. */
  unreadable?: string[];
}

/** Encodes a raw picture: PNG or JPEG, alternately, so both decoders are exercised. */
export function encodeRaw(img: RawRgb, format: 'png' | 'jpeg'): Promise<Buffer> {
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality: 92 }).toBuffer();
}

/**
 * `dir/dots/*` and `dir/stripes/*`: `perClass` images each (default 20), 96–144 px on a side, any aspect.
 * Deterministic for a seed.
 */
export async function makePatternDataset(dir: string, opts: PatternDatasetOptions = {}): Promise<{ dir: string; classes: string[] }> {
  const random = rng(opts.seed ?? 1);
  for (const cls of PATTERN_CLASSES) {
    await mkdir(path.join(dir, cls), { recursive: true });
    for (let i = 0; i < (opts.perClass ?? 20); i++) {
      const width = 96 + Math.floor(random() * 49);
      const height = 96 + Math.floor(random() * 49);
      const img = cls === 'dots' ? makeDotsRgb(width, height, random) : makeStripesRgb(width, height, random);
      const format = i % 2 ? 'jpeg' : 'png';
      await writeFile(path.join(dir, cls, `${String(i).padStart(2, '0')}.${format === 'jpeg' ? 'jpg' : 'png'}`), await encodeRaw(img, format));
    }
  }
  for (const file of opts.unreadable ?? []) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), 'not a picture: a text file with an image name\n');
  }
  return { dir, classes: [...PATTERN_CLASSES] };
}
