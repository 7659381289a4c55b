// Checks dreams of one picture for the README's "Grow anything" numbers:
// `npx tsx scripts/grow-check.ts <original> <dream>...` prints, per dream, the RMS of the change (how strongly it
// dreamed), the mean |Laplacian| of the change (how much fine detail it added) and the ImageNet classifier's top 3
// when the dream is read back at half size.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createExplainer } from '../src/engine/index.ts';
import { readImage, shrinkImage, type RgbImage } from '../src/imaging/index.ts';

const [original, ...dreams] = process.argv.slice(2);
if (!original || dreams.length === 0) throw new Error('usage: npx tsx scripts/grow-check.ts <original> <dream>...');

/** RMS of (b − a) and the mean |4-neighbour Laplacian| of it, in [0, 1] pixel units. */
function change(a: RgbImage, b: RgbImage): { rms: number; laplacian: number } {
  const { width: w, height: h } = a;
  const d = new Float32Array(a.data.length);
  let sq = 0;
  for (let i = 0; i < d.length; i++) {
    d[i] = (b.data[i] - a.data[i]) / 255;
    sq += d[i] * d[i];
  }
  let lap = 0;
  let n = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * w + x) * 3 + c;
        lap += Math.abs(4 * d[i] - d[i - 3] - d[i + 3] - d[i - w * 3] - d[i + w * 3]);
        n++;
      }
    }
  }
  return { rms: Math.sqrt(sq / d.length), laplacian: lap / n };
}

const explainer = await createExplainer();
for (const file of dreams) {
  const dream = await readImage(await readFile(file), { maxSide: 4096, maxInputPixels: 1e8 });
  const base = await readImage(await readFile(original), { maxSide: Math.max(dream.width, dream.height), maxInputPixels: 1e8 });
  if (base.width !== dream.width || base.height !== dream.height) throw new Error(`${file} is ${dream.width}×${dream.height}, the original ${base.width}×${base.height}`);
  const c = change(base, dream);
  const half = await shrinkImage(dream, Math.round(Math.max(dream.width, dream.height) / 2));
  const top = (await explainer.explain(half, { top: 3 })).top.map((s) => `${s.label} ${(s.probability * 100).toFixed(1)}%`).join(', ');
  process.stdout.write(`${path.basename(file)}: RMS change ${c.rms.toFixed(4)}, mean |Laplacian| of change ${c.laplacian.toFixed(4)}; at half size (${half.width}×${half.height}): ${top}\n`);
}
await explainer.dispose();
