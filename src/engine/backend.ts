import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

/** Which tfjs backend to run on. `auto` tries the GPU/native one, then wasm, then plain JS. */
export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  /** tfjs backend name actually running: tensorflow | wasm | cpu. */
  name: 'tensorflow' | 'wasm' | 'cpu';
  /** One line for logs and --info: what runs and why the better ones did not. */
  detail: string;
}

const require = createRequire(import.meta.url);

async function tryTensorflow(): Promise<string | null> {
  try {
    // Optional dependency: absent (or unloadable without libtensorflow) on CPU-only machines.
    await import('@tensorflow/tfjs-node-gpu' as string);
  } catch (err) {
    return `tfjs-node-gpu unavailable (${firstLine(err)})`;
  }
  return (await tf.setBackend('tensorflow')) ? null : 'tfjs-node-gpu loaded but its backend did not start';
}

async function tryWasm(): Promise<string | null> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // Emscripten threads need a browser-style Worker; in Node only the single-threaded SIMD build works.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist);
    return (await tf.setBackend('wasm')) ? null : 'wasm backend did not start';
  } catch (err) {
    return `wasm unavailable (${firstLine(err)})`;
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 160);
}

let current: Promise<BackendInfo> | null = null;
let currentChoice: BackendChoice | null = null;

/**
 * Starts the requested backend once per process (later calls with the same choice reuse it).
 * An explicit choice that cannot start is an error; `auto` falls back and says why.
 */
export function initBackend(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  if (current && currentChoice === choice) return current;
  currentChoice = choice;
  current = start(choice);
  return current;
}

async function start(choice: BackendChoice): Promise<BackendInfo> {
  const notes: string[] = [];
  if (choice === 'auto' || choice === 'tensorflow') {
    const why = await tryTensorflow();
    if (!why) return { name: 'tensorflow', detail: 'tensorflow (tfjs-node-gpu, native libtensorflow)' };
    if (choice === 'tensorflow') throw new Error(`Backend "tensorflow" cannot start: ${why}`);
    notes.push(why);
  }
  if (choice === 'auto' || choice === 'wasm') {
    const why = await tryWasm();
    if (!why) {
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      return { name: 'wasm', detail: `wasm (${simd ? 'SIMD' : 'no SIMD'}, 1 thread)${notes.length ? `; ${notes.join('; ')}` : ''}` };
    }
    if (choice === 'wasm') throw new Error(`Backend "wasm" cannot start: ${why}`);
    notes.push(why);
  }
  await tf.setBackend('cpu');
  return { name: 'cpu', detail: `cpu (pure JavaScript, slowest)${notes.length ? `; ${notes.join('; ')}` : ''}` };
}
