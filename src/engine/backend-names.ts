/**
 * What dreams run on. `auto`: TensorFlow (tfjs-node-gpu) when a GPU is visible, else ONNX Runtime on the CPU, else
 * tfjs wasm, else tfjs's plain-JavaScript cpu backend. (Names only: this file loads no backend, see options.ts.)
 */
export type BackendChoice = 'auto' | 'tensorflow' | 'onnx' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'onnx', 'wasm', 'cpu'];
export type BackendName = Exclude<BackendChoice, 'auto'>;

/** Longest side a dream is computed at when nothing says otherwise: what each backend does in reasonable time. */
export const DEFAULT_MAX_SIDE: Record<BackendName, number> = { tensorflow: 1024, onnx: 768, wasm: 512, cpu: 384 };
