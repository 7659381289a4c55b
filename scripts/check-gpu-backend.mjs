#!/usr/bin/env node
// Checks that @tensorflow/tfjs-node-gpu (the `tensorflow` backend) loads: the package is installed, its
// native addon and libtensorflow load, and a small op runs. Prints the versions and whether TensorFlow
// sees a GPU.
//
//   node scripts/check-gpu-backend.mjs                # exit 1 if the binding cannot load (GPU optional)
//   node scripts/check-gpu-backend.mjs --require-gpu  # exit 1 also if no GPU is visible
//
// The GPU image runs it at build time, where there is no GPU: npm skips an optional dependency whose
// install script failed (e.g. the libtensorflow download) and still exits 0, so without this check the
// image would build and then fail at start-up with DREAM_BACKEND=tensorflow.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const requireGpu = process.argv.includes('--require-gpu');

function fail(message) {
  process.stderr.write(`check-gpu-backend: ${message}\n`);
  process.exit(1);
}

let tf;
try {
  tf = require('@tensorflow/tfjs-node-gpu');
} catch (err) {
  const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  fail(
    `@tensorflow/tfjs-node-gpu cannot be loaded: ${why}\n` +
      '  Its install script downloads libtensorflow and a prebuilt addon from storage.googleapis.com at `npm ci`;\n' +
      '  see the npm ci output for the error (no internet, proxy, or the install script was not run).',
  );
}

await tf.ready();
const backend = tf.getBackend();
if (backend !== 'tensorflow') fail(`the active backend is "${backend}", not "tensorflow".`);

// One real op through libtensorflow, so a binding that loads but cannot run fails here too.
const product = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1], [1]])).dataSync());
if (product[0] !== 3 || product[1] !== 7) fail(`a 2×2 matMul returned [${Array.from(product)}], expected [3, 7].`);

const native = tf.backend();
const gpu = Boolean(native.isUsingGpuDevice);
console.log(
  `tfjs-node-gpu ${tf.version['tfjs-node']} (tfjs ${tf.version.tfjs}, libtensorflow ${native.binding?.TF_Version ?? 'unknown'}): ` +
    `backend ${backend} loads and runs; GPU ${gpu ? 'visible' : 'not visible (TensorFlow runs on the CPU)'}.`,
);
if (requireGpu && !gpu) fail('no GPU is visible to TensorFlow (--require-gpu). Is the container started with --gpus all?');
