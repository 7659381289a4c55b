// Renders the picture the Explain button posts for a dream: `npx tsx scripts/explain-pair.ts <original> <dream> <out>`.
// Used for the README's docs/explain.jpg.
import { readFile } from 'node:fs/promises';
import { createExplainer } from '../src/engine/index.ts';
import { readImage, writeImage } from '../src/imaging/index.ts';
import { explainPicture, scoreText } from '../src/jobs/index.ts';

const [original, dream, out] = process.argv.slice(2);
if (!original || !dream || !out) throw new Error('usage: npx tsx scripts/explain-pair.ts <original> <dream> <out>');
const images = await Promise.all([original, dream].map(async (f) => readImage(await readFile(f), { maxSide: 768, maxInputPixels: 1e8 })));
const explainer = await createExplainer();
const explanations = [];
for (const image of images) explanations.push(await explainer.explain(image));
for (const [i, e] of explanations.entries()) process.stdout.write(`${i === 0 ? 'before' : 'after'}: ${e.top.map((s) => scoreText(s)).join(', ')}\n`);
await writeImage(await explainPicture(images, explanations), out, { quality: 85 });
await explainer.dispose();
