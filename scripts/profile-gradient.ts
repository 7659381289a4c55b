// Where a gradient call's time goes: `npx tsx scripts/profile-gradient.ts <model> <side> [layer,...]` emits the
// model's gradient graph (the session a dream with those layers uses: every dream layer feeding the deepest one,
// the last layer given weighted, the others zero), runs it with ONNX Runtime's profiler on a random side×side image
// (2 threads, 2 warm-up calls, 6 profiled) and prints the node time per call by op type and the slowest nodes.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { nodeChannels } from '../src/engine/model/graph.ts';
import { loadCompiledModel } from '../src/engine/model/load.ts';
import { emitDreamModel } from '../src/engine/onnx/emit.ts';
import { seededRandom } from '../src/engine/random.ts';

const [model, sideArg, layersArg] = process.argv.slice(2);
if (!model || !sideArg) throw new Error('usage: npx tsx scripts/profile-gradient.ts <model> <side> [layer,...]');
const side = Number(sideArg);
const { graph, manifest } = await loadCompiledModel(model);
const asked = layersArg ? layersArg.split(',') : manifest.defaultLayers;
const depth = new Map(graph.nodes.map((n, i) => [n.name, i]));
const cut = asked.reduce((a, b) => ((depth.get(graph.outputs[b]) ?? 0) > (depth.get(graph.outputs[a]) ?? 0) ? b : a));
const terms = [...new Set([...manifest.dreamLayers.filter((l) => (depth.get(graph.outputs[l]) ?? 0) <= (depth.get(graph.outputs[cut]) ?? 0)), ...asked])];
const bytes = emitDreamModel(graph, { inputRange: manifest.input.range, cutLayer: cut, terms, gradient: true });
const dir = await mkdtemp(path.join(os.tmpdir(), 'profile-'));
const session = await ort.InferenceSession.create(bytes, {
  executionProviders: ['cpu'], intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  enableProfiling: true, profileFilePrefix: path.join(dir, 'run'),
});
const random = seededRandom(1);
const channels = nodeChannels(graph);
const feeds: Record<string, ort.Tensor> = { image: new ort.Tensor('float32', Float32Array.from({ length: 3 * side * side }, random), [1, 3, side, side]) };
for (const t of terms) {
  const c = channels.get(graph.outputs[t]) ?? 0;
  feeds[`w_${t}`] = new ort.Tensor('float32', Float32Array.from({ length: c }, () => (asked.includes(t) ? random() - 0.5 : 0)), [c]);
}
const runs = 8;
const wall: number[] = [];
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  await session.run(feeds);
  wall.push(performance.now() - t);
}
session.endProfiling();
await session.release();
const file = path.join(dir, (await readdir(dir))[0]);
const events = JSON.parse(await readFile(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
await rm(dir, { recursive: true, force: true });
// The first two calls warm ORT up (first run of a shape); only the last six are counted.
const calls = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
const from = calls.length > 2 ? calls[calls.length - 6] : undefined;
const counted = from ? events.filter((e) => (e as { ts?: number }).ts! >= (from as { ts?: number }).ts!) : events;
const perCall = Math.min(6, calls.length);
const byOp = new Map<string, number>();
const byNode = new Map<string, number>();
for (const e of counted) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
  const op = e.args?.op_name ?? '?';
  byOp.set(op, (byOp.get(op) ?? 0) + e.dur / perCall / 1000);
  const key = `${op} ${e.name.replace(/_kernel_time$/, '')}`;
  byNode.set(key, (byNode.get(key) ?? 0) + e.dur / perCall / 1000);
}
const total = [...byOp.values()].reduce((a, b) => a + b, 0);
const ms = (x: number) => x.toFixed(1).padStart(7);
console.log(`${model} ${side}×${side}, terms ${terms.join('+')} (${asked.join('+')} weighted): wall per call ${wall.slice(2).map((x) => x.toFixed(0)).join(' ')} ms; node time ${total.toFixed(1)} ms per call`);
for (const [op, t] of [...byOp].sort((a, b) => b[1] - a[1]).filter(([, t]) => t >= 0.05)) console.log(`${ms(t)}  ${op}`);
console.log('slowest nodes:');
for (const [node, t] of [...byNode].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${ms(t)}  ${node}`);
