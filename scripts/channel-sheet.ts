// A contact sheet of channel dreams (or any dreams) of one picture, each captioned:
// `npx tsx scripts/channel-sheet.ts <picture> <out.jpg> <side> <cols> <spec>...` where a spec is what --layers takes
// (mixed4:97), or `target=goldfish` for an ImageNet class; `--soft` anywhere makes every dream soft.
// Used for the README's docs/grow-channels.jpg and docs/grow-classes.jpg.
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { createDreamer, resolveClass, resolveParams } from '../src/engine/index.ts';
import { readImage } from '../src/imaging/index.ts';

const args = process.argv.slice(2);
const soft = args.includes('--soft') ? true : undefined;
const [picture, out, sideText, colsText, ...specs] = args.filter((a) => a !== '--soft');
if (!picture || !out || specs.length === 0) throw new Error('usage: channel-sheet.ts <picture> <out.jpg> <side> <cols> [--soft] <spec>...');
const side = Number(sideText);
const cols = Number(colsText);
const image = await readImage(await readFile(picture), { maxSide: side, maxInputPixels: 1e8 });
const dreamer = await createDreamer({ backend: 'onnx', threads: 2 });
const caption = 28;
const tiles: { input: Buffer; left: number; top: number }[] = [];
for (const [i, spec] of specs.entries()) {
  const target = spec.startsWith('target=') ? spec.slice('target='.length) : undefined;
  const cls = await resolveClass(dreamer.manifest, undefined, target, {});
  const params = resolveParams(dreamer.manifest, { seed: 7, soft, ...(target ? cls : { layers: spec.split(',') }) });
  const started = Date.now();
  const result = await dreamer.dream(image, params);
  process.stderr.write(`${spec}: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  const label = target ? (cls.target ?? target) : spec;
  const text = Buffer.from(
    `<svg width="${image.width}" height="${caption}"><rect width="100%" height="100%" fill="#111"/>` +
      `<text x="6" y="20" font-family="DejaVu Sans" font-size="17" fill="#eee">${label.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text></svg>`,
  );
  const left = (i % cols) * (image.width + 4);
  const top = Math.floor(i / cols) * (image.height + caption + 4);
  tiles.push({ input: await sharp(Buffer.from(result.data), { raw: { width: result.width, height: result.height, channels: 3 } }).png().toBuffer(), left, top });
  tiles.push({ input: await sharp(text).png().toBuffer(), left, top: top + image.height });
}
const rows = Math.ceil(specs.length / cols);
const sheet = sharp({ create: { width: cols * (image.width + 4) - 4, height: rows * (image.height + caption + 4) - 4, channels: 3, background: '#000' } }).composite(tiles);
await (out.endsWith('.png') ? sheet.png() : sheet.jpeg({ quality: 80 })).toFile(out);
await dreamer.dispose();
