// Worker threads that run the engine: the bot's and the queue worker's way to dream off the main thread.
export { DreamWorkerPool, type DreamWorkerPoolOptions, type PoolLog } from './worker-pool.ts';
export {
  WorkerCrashedError,
  type AnimationInput,
  type AnimationRunCallbacks,
  type DreamInput, type DreamRunCallbacks, type DreamRunner, type ExplainInput, type ZoomInput, type ZoomRunCallbacks } from './runner.ts';
