// Where accepted jobs wait: in this process (p-queue) or in Redis (BullMQ). Queues take a processor and hooks and
// know nothing of what a job is.
export { MemoryQueue } from './memory-queue.ts';
export { RedisQueue } from './redis-queue.ts';
export { RedisTurns } from './redis-turns.ts';
export { startRedisWorker, type RedisWorkerOptions } from './redis-worker.ts';
export type { Ending, JobQueue, Processor, QueueHooks, QueueJob, QueueLimits, Refusal, Submission } from './types.ts';
