// Two class folders of crops of real photos, for trying `npm run train -- --fine-tune` (README, "Fine-tune the trunk").
// Usage: node --import tsx scripts/photo-crops.ts OUT_DIR [PER_CLASS] [PHOTOS_DIR]
// OUT_DIR/cat/*.jpg: crops of Chelsea the cat; OUT_DIR/portrait/*.jpg: crops of the astronaut's portrait. Each crop is a
// seeded random square of 10–20% of the photo's shorter side, saved at 192 px: the same files every run.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { seededRandom } from '../src/engine/random.ts';

const [out = '/tmp/photo-crops', perClassText = '40', photos = '/work/shared/photos'] = process.argv.slice(2);
const perClass = Number(perClassText);
const classes = { cat: 'chelsea.png', portrait: 'astronaut.png' };

for (const [k, [name, file]] of Object.entries(classes).entries()) {
  const src = path.join(photos, file);
  const { width = 0, height = 0 } = await sharp(src).metadata();
  const random = seededRandom(2026 + k);
  await mkdir(path.join(out, name), { recursive: true });
  for (let i = 0; i < perClass; i++) {
    const side = Math.round(Math.min(width, height) * (0.1 + 0.1 * random()));
    const left = Math.floor(random() * (width - side));
    const top = Math.floor(random() * (height - side));
    await sharp(src).extract({ left, top, width: side, height: side }).resize(192, 192).jpeg({ quality: 90 }).toFile(path.join(out, name, `${String(i).padStart(3, '0')}.jpg`));
  }
}
console.log(`${perClass} crops per class in ${out}: ${Object.keys(classes).join(', ')}`);
