// Renders the picture the Explain button posts for a dream: `npx tsx scripts/explain-pair.ts <original> <dream> <out> [locale]`.
// Used for the README's docs/explain.jpg (and docs/explain-ja.jpg with locale ja).
import { readFile } from 'node:fs/promises';
import { createExplainer } from '../src/engine/index.ts';
import { readImage, writeImage } from '../src/imaging/index.ts';
import { messagesFor } from '../src/i18n/index.ts';
import { explainPicture, scoreText } from '../src/jobs/index.ts';

const [original, dream, out, locale] = process.argv.slice(2);
if (!original || !dream || !out) throw new Error('usage: npx tsx scripts/explain-pair.ts <original> <dream> <out> [locale]');
const t = messagesFor(locale);
const images = await Promise.all([original, dream].map(async (f) => readImage(await readFile(f), { maxSide: 768, maxInputPixels: 1e8 })));
const explainer = await createExplainer();
const explanations = [];
for (const image of images) explanations.push(await explainer.explain(image));
for (const [i, e] of explanations.entries()) process.stdout.write(`${i === 0 ? 'before' : 'after'}: ${e.top.map((s) => scoreText(s, t)).join(', ')}\n`);
await writeImage(await explainPicture(images, explanations, t), out, { quality: 85 });
await explainer.dispose();
