// Makes short animations out of a still photo, to dream and to measure animated dreams on real pictures:
//   npx tsx scripts/make-clip.ts pan PHOTO OUT.gif [frames] [side] [step]     a camera pan: a crop window sliding right
//   npx tsx scripts/make-clip.ts patch PHOTO OUT.gif [frames] [side]          the photo still, one small patch moving
// OUT may end in .webp for an animated WebP. Frames show 80 ms each and loop forever.
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';

export interface Clip {
  frames: Buffer[];
  width: number;
  height: number;
  /** pan: pixels the window moves right per frame; patch: the patch's box per frame. */
  step?: number;
  boxes?: { left: number; top: number; size: number }[];
}

/** A window of `side` × 3/4·side sliding right `step` px a frame across the photo (resized to fit the slide). */
export async function panClip(photo: string, frames: number, side: number, step: number): Promise<Clip> {
  const width = side;
  const height = Math.round((side * 3) / 4);
  const needW = width + step * (frames - 1);
  const base = sharp(photo).resize({ width: needW, height, fit: 'cover' }).removeAlpha();
  const raw = await base.raw().toBuffer();
  const out: Buffer[] = [];
  for (let f = 0; f < frames; f++) {
    out.push(await sharp(raw, { raw: { width: needW, height, channels: 3 } }).extract({ left: f * step, top: 0, width, height }).raw().toBuffer());
  }
  return { frames: out, width, height, step };
}

/** The photo at `side`, still, with a small red ball (an eighth of its short side) crossing it on a wave. */
export async function patchClip(photo: string, frames: number, side: number): Promise<Clip> {
  const img = sharp(photo).resize(side, side, { fit: 'inside' }).removeAlpha();
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const size = Math.round(Math.min(width, height) / 8);
  const out: Buffer[] = [];
  const boxes: Clip['boxes'] = [];
  for (let f = 0; f < frames; f++) {
    const left = Math.round(size + ((width - 3 * size) * f) / Math.max(1, frames - 1));
    const top = Math.round(height / 2 + (height / 5) * Math.sin((f / frames) * 2 * Math.PI));
    const frame = Buffer.from(data);
    for (let y = top; y < top + size; y++) {
      for (let x = left; x < left + size; x++) {
        const o = (y * width + x) * 3;
        // A red ball with a highlight: something with edges for the dream to grow on.
        const d = Math.hypot(x - left - size / 2, y - top - size / 2) / (size / 2);
        if (d > 1) continue;
        frame[o] = Math.round(220 - 60 * d);
        frame[o + 1] = Math.round(60 + 120 * Math.max(0, 0.5 - d));
        frame[o + 2] = Math.round(50 + 100 * Math.max(0, 0.4 - d));
      }
    }
    out.push(frame);
    boxes.push({ left, top, size });
  }
  return { frames: out, width, height, boxes };
}

export function encodeClip(clip: Clip, file: string): Promise<Buffer> {
  const { width, height, frames } = clip;
  const pipeline = sharp(Buffer.concat(frames), { raw: { width, height: height * frames.length, channels: 3, pageHeight: height } });
  const delay = frames.map(() => 80);
  return (file.toLowerCase().endsWith('.webp') ? pipeline.webp({ delay, loop: 0, quality: 90 }) : pipeline.gif({ delay, loop: 0, effort: 3 })).toBuffer();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [mode, photo, file, framesArg, sideArg, stepArg] = process.argv.slice(2);
  if ((mode !== 'pan' && mode !== 'patch') || !photo || !file) {
    process.stderr.write('usage: npx tsx scripts/make-clip.ts pan|patch PHOTO OUT.gif [frames] [side] [step]\n');
    process.exit(2);
  }
  const frames = Number(framesArg ?? 24);
  const side = Number(sideArg ?? 320);
  const clip = mode === 'pan' ? await panClip(photo, frames, side, Number(stepArg ?? 6)) : await patchClip(photo, frames, side);
  await writeFile(file, await encodeClip(clip, file));
  process.stdout.write(`Wrote ${file}: ${frames} frames of ${clip.width}×${clip.height}\n`);
}
