// Small synthetic animations (GIF, animated WebP) made with sharp: a square moving over a gradient.
import sharp from 'sharp';

export interface ClipOptions {
  frames: number;
  width: number;
  height: number;
  format?: 'gif' | 'webp';
  /** One delay per frame in ms (default 100 each). */
  delays?: number[];
  loop?: number;
}

/** Frame i: a horizontal gradient with a bright square `i` steps along; every frame differs from the last. */
export function clipFrames(frames: number, width: number, height: number): Buffer {
  const raw = Buffer.alloc(width * height * 3 * frames);
  const side = Math.max(2, Math.round(height / 4));
  for (let f = 0; f < frames; f++) {
    const left = Math.round(((width - side) * f) / Math.max(1, frames - 1));
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = ((f * height + y) * width + x) * 3;
        const inside = x >= left && x < left + side && y >= height / 2 - side / 2 && y < height / 2 + side / 2;
        raw[o] = inside ? 250 : Math.round((200 * x) / width);
        raw[o + 1] = inside ? 220 : 80;
        raw[o + 2] = inside ? 40 : Math.round(60 + (150 * y) / height);
      }
    }
  }
  return raw;
}

/** An animated GIF (or WebP) of a moving square. */
export function makeClip(o: ClipOptions): Promise<Buffer> {
  const { frames, width, height } = o;
  const pipeline = sharp(clipFrames(frames, width, height), { raw: { width, height: height * frames, channels: 3, pageHeight: height } });
  const delay = o.delays ?? Array<number>(frames).fill(100);
  const loop = o.loop ?? 0;
  return (o.format === 'webp' ? pipeline.webp({ delay, loop, quality: 90 }) : pipeline.gif({ delay, loop, effort: 1 })).toBuffer();
}
