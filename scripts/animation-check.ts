// Measures animated dreams on clips made from a real photo (scripts/make-clip.ts): does a still background stay
// still, and do the patterns follow a camera pan, compared with dreaming every frame alone with the same seed?
//   npx tsx scripts/animation-check.ts PHOTO [frames] [side] [intensity] [carry]
// Knobs for trying recipes: FOLLOW=2x3 (a later frame's octaves × steps), HOLD=0.6, NO_ALONE=1 (skip the baseline).
// Wrap it in flock /tmp/cpu-heavy.lock on a shared machine: it times both ways.
import { createDreamer, dreamAnimation, resolveParams, type Intensity } from '../src/engine/index.ts';
import type { RgbImage } from '../src/imaging/index.ts';
import { fmt, mean, meanDiff } from './frame-metrics.ts';
import { panClip, patchClip, type Clip } from './make-clip.ts';

const [photo = '../shared/photos/rocket.jpg', framesArg = '24', sideArg = '320', intensity = 'medium', carryArg] = process.argv.slice(2);
const frames = Number(framesArg);
const side = Number(sideArg);
const step = 6;

const dreamer = await createDreamer({ backend: 'onnx' });
const params = { ...resolveParams(dreamer.manifest, { intensity: intensity as Intensity, seed: 2026 }), ...(carryArg ? { carry: Number(carryArg) } : {}), ...(process.env.HOLD ? { hold: Number(process.env.HOLD) } : {}), ...(process.env.FOLLOW ? { followOctaves: Number(process.env.FOLLOW.split('x')[0]), followSteps: Number(process.env.FOLLOW.split('x')[1]) } : {}) };
const images = (c: Clip): RgbImage[] => c.frames.map((f) => ({ data: new Uint8Array(f), width: c.width, height: c.height }));

async function both(clip: Clip) {
  const input = images(clip);
  let t = Date.now();
  const coherent = await dreamAnimation(dreamer, input, params);
  const coherentS = (Date.now() - t) / 1000;
  t = Date.now();
  const alone: RgbImage[] = [];
  if (!process.env.NO_ALONE) for (const f of input) alone.push(await dreamer.dream(f, params));
  else alone.push(...coherent);
  const aloneS = (Date.now() - t) / 1000;
  return { input, coherent, alone, coherentS, aloneS };
}

const strength = (out: RgbImage[], input: RgbImage[]) => out.map((o, i) => meanDiff(o, input[i], () => true));

// 1. A still photo with one small moving object: change between consecutive frames outside the object.
const patch = await patchClip(photo, frames, side);
const p = await both(patch);
const outside = (k: number) => (x: number, y: number) =>
  [patch.boxes![k], patch.boxes![k - 1]].every((b) => x < b.left - b.size || x >= b.left + 2 * b.size || y < b.top - b.size || y >= b.top + 2 * b.size);
const still = (out: RgbImage[]) => out.slice(1).map((o, i) => meanDiff(o, out[i], outside(i + 1)));
const sc = still(p.coherent);
const sa = still(p.alone);
console.log(`still photo + moving ball (${patch.width}×${patch.height}, ${frames} frames, ${intensity}, carry ${params.carry ?? 'default'}):`);
console.log(`  change between consecutive frames outside the ball (/255): coherent mean ${fmt(mean(sc))} max ${fmt(Math.max(...sc))}; each frame alone mean ${fmt(mean(sa))}`);
const ps = strength(p.coherent, p.input);
console.log(`  dream strength |dream − input| (/255): frame 1 ${fmt(ps[0])}, frame ${frames} ${fmt(ps[ps.length - 1])}, mean ${fmt(mean(ps))}; alone mean ${fmt(mean(strength(p.alone, p.input)))}`);
console.log(`  time: coherent ${p.coherentS.toFixed(1)} s, each frame alone ${p.aloneS.toFixed(1)} s`);

// 2. A camera pan: frame k at x shows what frame k−1 showed at x + step.
const pan = await panClip(photo, frames, side, step);
const q = await both(pan);
const follows = (out: RgbImage[]) => out.slice(1).map((o, i) => meanDiff(o, out[i], () => true, step));
const fc = follows(q.coherent);
const fa = follows(q.alone);
const fi = follows(q.input);
console.log(`camera pan (${pan.width}×${pan.height}, ${step} px a frame):`);
console.log(`  consecutive frames after shifting by the pan (/255): coherent ${fmt(mean(fc))}, each frame alone ${fmt(mean(fa))}, the input itself ${fmt(mean(fi))}`);
const qs = strength(q.coherent, q.input);
console.log(`  dream strength (/255): frame 1 ${fmt(qs[0])}, frame ${frames} ${fmt(qs[qs.length - 1])}, mean ${fmt(mean(qs))}; alone mean ${fmt(mean(strength(q.alone, q.input)))}`);
console.log(`  time: coherent ${q.coherentS.toFixed(1)} s, each frame alone ${q.aloneS.toFixed(1)} s`);
await dreamer.dispose();
