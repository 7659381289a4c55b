// Named float32 arrays in one binary file described by a tfjs weights manifest (the format head.bin uses).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { io } from '@tensorflow/tfjs-core';
import { ModelError } from '../model/manifest.ts';

export interface NamedWeight {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** One file (`file`, little-endian float32, in order) and the manifest that names its parts. */
export function encodeWeights(file: string, weights: NamedWeight[]): { weightsManifest: io.WeightsManifestConfig; data: Buffer } {
  const total = weights.reduce((n, w) => n + w.data.length, 0);
  const data = Buffer.alloc(total * 4);
  let at = 0;
  for (const w of weights) {
    if (w.data.length !== w.shape.reduce((a, b) => a * b, 1)) throw new Error(`internal: weight ${w.name} does not match its shape`);
    for (let i = 0; i < w.data.length; i++) data.writeFloatLE(w.data[i], (at + i) * 4);
    at += w.data.length;
  }
  return { weightsManifest: [{ paths: [file], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' as const })) }], data };
}

/** Reads the weights a manifest describes, relative to `dir`; `what` names them in errors. */
export async function decodeWeights(dir: string, manifest: io.WeightsManifestConfig, what: string): Promise<Map<string, Float32Array>> {
  const found = new Map<string, Float32Array>();
  for (const group of manifest) {
    let bytes: Buffer;
    try {
      bytes = Buffer.concat(await Promise.all(group.paths.map((p) => readFile(path.resolve(dir, p)))));
    } catch (err) {
      throw new ModelError(`${what}: cannot read its weights (${(err as Error).message}).`);
    }
    let offset = 0;
    for (const spec of group.weights) {
      const count = spec.shape.reduce((a, b) => a * b, 1);
      if (spec.dtype !== 'float32' || spec.quantization) throw new ModelError(`${what}: weight ${spec.name} is not plain float32.`);
      if (offset + count * 4 > bytes.length) throw new ModelError(`${what}: its weight file is shorter than its manifest says.`);
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) values[i] = bytes.readFloatLE(offset + i * 4);
      found.set(spec.name, values);
      offset += count * 4;
    }
  }
  return found;
}
