import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { BackendChoice, BackendName } from './backend-names.ts';

export { BACKEND_CHOICES, DEFAULT_MAX_SIDE, type BackendChoice, type BackendName } from './backend-names.ts';

export interface BackendInfo {
  /** The backend actually running. */
  name: BackendName;
  /** One line for logs and --info: what runs and why the better ones did not. */
  detail: string;
  /** CPU threads one dream uses (onnx); 1 for wasm and cpu, 0 when a GPU does the work. */
  threads: number;
}

/** A GPU the NVIDIA driver exposes (the device nodes a container gets with --gpus). */
function gpuVisible(): boolean {
  return existsSync('/dev/nvidia0') || existsSync('/proc/driver/nvidia/gpus');
}

async function tryOnnx(): Promise<string | null> {
  try {
    // The CPU binding ships inside the package; its install script (CUDA/TensorRT downloads) is not needed.
    await import('onnxruntime-node');
    return null;
  } catch (err) {
    return `onnxruntime-node unavailable (${firstLine(err)})`;
  }
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
let currentKey: string | null = null;

/**
 * Starts the requested backend once per process (later calls with the same choice reuse it).
 * An explicit choice that cannot start is an error; `auto` falls back and says why.
 * `threads`: CPU threads for one dream on onnx (default 1).
 */
export function initBackend(choice: BackendChoice = 'auto', threads = 1): Promise<BackendInfo> {
  const key = `${choice}:${threads}`;
  if (current && currentKey === key) return current;
  currentKey = key;
  current = start(choice, Math.max(1, Math.floor(threads)));
  return current;
}

async function start(choice: BackendChoice, threads: number): Promise<BackendInfo> {
  // Production mode: no debug checks, and no "install tfjs-node" banner on stderr when the cpu backend helps onnx.
  tf.enableProdMode();
  const notes: string[] = [];
  const why = () => (notes.length ? `; ${notes.join('; ')}` : '');
  if (choice === 'tensorflow' || (choice === 'auto' && gpuVisible())) {
    const failed = await tryTensorflow();
    if (!failed) return { name: 'tensorflow', detail: 'tensorflow (tfjs-node-gpu, native libtensorflow)', threads: 0 };
    if (choice === 'tensorflow') throw new Error(`Backend "tensorflow" cannot start: ${failed}`);
    notes.push(failed);
  } else if (choice === 'auto') {
    notes.push('tensorflow skipped: no GPU visible');
  }
  if (choice === 'auto' || choice === 'onnx') {
    const failed = await tryOnnx();
    if (!failed) {
      // tfjs stays on its cpu backend for the little it still does around the network (a style head's input resize).
      await tf.setBackend('cpu');
      return { name: 'onnx', detail: `onnx (onnxruntime-node, CPU, ${threads} thread${threads === 1 ? '' : 's'})${why()}`, threads };
    }
    if (choice === 'onnx') throw new Error(`Backend "onnx" cannot start: ${failed}`);
    notes.push(failed);
  }
  if (choice === 'auto' || choice === 'wasm') {
    const failed = await tryWasm();
    if (!failed) {
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      return { name: 'wasm', detail: `wasm (${simd ? 'SIMD' : 'no SIMD'}, 1 thread)${why()}`, threads: 1 };
    }
    if (choice === 'wasm') throw new Error(`Backend "wasm" cannot start: ${failed}`);
    notes.push(failed);
  }
  await tf.setBackend('cpu');
  return { name: 'cpu', detail: `cpu (pure JavaScript, slowest)${why()}`, threads: 1 };
}

/**
 * Where tfjs ops run while a style's blocks train (autodiff): beside onnx, the wasm backend if it starts (several
 * times faster than the cpu backend onnx leaves tfjs on); otherwise the running backend. Returns its name.
 */
export async function tfjsForTraining(backend: BackendInfo): Promise<string> {
  if (backend.name === 'onnx' && tf.getBackend() !== 'wasm') await tryWasm();
  return tf.getBackend();
}
