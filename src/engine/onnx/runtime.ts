// ONNX Runtime as the engine's graphs use it: the native addon loaded only when a session is wanted, and one set of
// CPU session options for the dream networks and the training step alike.
import type { InferenceSession } from 'onnxruntime-node';

export type Ort = typeof import('onnxruntime-node');

/** The addon, loaded on first use rather than at import (only the onnx backend needs it). */
export async function loadOrt(): Promise<Ort> {
  const mod = await import('onnxruntime-node');
  return ((mod as { default?: Ort }).default ?? mod) as Ort;
}

/**
 * CPU sessions with `threads` intra-op threads, run one node at a time. `spinning: false` lets idle threads sleep
 * instead of spinning for the next run (a second network taking turns with another would otherwise hold a core).
 */
export function cpuSessionOptions(threads: number, spinning = true): InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...(spinning ? {} : { extra: { session: { 'intra_op.allow_spinning': '0' } } }),
  };
}
