import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Dreamer } from '../../src/engine/dreamer.ts';
import { loadArtifacts } from '../../src/engine/model/artifacts.ts';
import { loadManifest } from '../../src/engine/model/manifest.ts';

let dreamer: Promise<Dreamer> | null = null;

/** The stock model on the auto-selected backend, loaded once per test file. */
export function stockDreamer(): Promise<Dreamer> {
  dreamer ??= Dreamer.create({ backend: 'auto' });
  return dreamer;
}

/** The same weights through tfjs-layers, as the reference the compiled network must match. */
export async function stockLayersModel(): Promise<tfl.LayersModel> {
  const artifacts = await loadArtifacts(await loadManifest('inception_v3'));
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts));
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

export function maxAbs(a: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]);
}
