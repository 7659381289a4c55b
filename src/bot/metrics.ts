import { readdirSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobResult } from '../jobs/index.ts';
import type { Ending } from '../queue/index.ts';

/**
 * Every way a request ends: it ran (done, failed, cancelled), was refused (the request itself: bad file, caps, a
 * restart), found the queue unavailable (Redis unreachable or not answering; nothing was queued), or was accepted
 * and never ran.
 */
export type RequestOutcome = 'done' | 'failed' | 'cancelled' | 'refused' | 'unavailable' | 'not_run';

/** Prometheus metrics of one bot process, in their own registry (no global state between bots in tests). */
export class BotMetrics {
  readonly registry = new Registry();
  private readonly jobs = new Counter({ name: 'deepdream_jobs_total', help: 'Dream requests by outcome', labelNames: ['outcome'] as const, registers: [this.registry] });
  private readonly jobDuration = new Histogram({
    name: 'deepdream_job_duration_seconds',
    help: 'Time from a dream starting to its result, for finished dreams',
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  readonly stepSeconds = new Histogram({
    name: 'deepdream_step_seconds',
    help: 'Seconds per gradient-ascent step',
    buckets: [0.01, 0.03, 0.1, 0.3, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  private readonly nsfwRefusals = new Counter({
    name: 'deepdream_nsfw_refusals_total',
    help: 'Requests refused because an input was screened as explicit outside an age-restricted channel (also counted as refused)',
    registers: [this.registry],
  });
  private readonly retries = new Counter({ name: 'deepdream_job_retries_total', help: 'Dreams retried at a smaller size after a backend error', registers: [this.registry] });

  constructor(sources: { queueDepth: () => number; running: () => number; backend: () => string; gatewayPingMs: () => number }) {
    new Gauge({ name: 'deepdream_queue_depth', help: 'Dreams waiting in the queue', registers: [this.registry], collect() {
      this.set(sources.queueDepth());
    } });
    new Gauge({ name: 'deepdream_jobs_running', help: 'Dreams running now', registers: [this.registry], collect() {
      this.set(sources.running());
    } });
    new Gauge({ name: 'deepdream_backend_info', help: 'The backend dreams run on (onnx, tensorflow, wasm, cpu, or redis workers)', labelNames: ['backend'] as const, registers: [this.registry], collect() {
      this.reset();
      this.set({ backend: sources.backend() }, 1);
    } });
    new Gauge({ name: 'deepdream_gateway_ping_seconds', help: 'Discord gateway heartbeat round trip', registers: [this.registry], collect() {
      const ms = sources.gatewayPingMs();
      if (ms >= 0) this.set(ms / 1000);
    } });
    for (const outcome of ['done', 'failed', 'cancelled', 'refused', 'unavailable', 'not_run'] as const) this.jobs.inc({ outcome }, 0);
    // What a leak shows first, under the names prom-client's default metrics use (not enabled: they add GC observers
    // per registry, and tests start many bots in one process).
    new Gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory of this process (with its dream worker threads)', registers: [this.registry], collect() {
      this.set(process.memoryUsage.rss());
    } });
    new Gauge({ name: 'nodejs_heap_size_used_bytes', help: 'V8 heap used by the main thread', registers: [this.registry], collect() {
      this.set(process.memoryUsage().heapUsed);
    } });
    new Gauge({ name: 'nodejs_active_resources_total', help: 'Handles and requests keeping the event loop alive (sockets, timers, workers, ...)', registers: [this.registry], collect() {
      this.set(process.getActiveResourcesInfo().length);
    } });
    new Gauge({ name: 'process_open_fds', help: 'Open file descriptors (Linux)', registers: [this.registry], collect() {
      try {
        this.set(readdirSync('/proc/self/fd').length);
      } catch {
        // not Linux: no figure
      }
    } });
  }

  /** The one place outcomes are counted: a refusal before queueing, or a queued job's end (either queue). */
  count(outcome: RequestOutcome): void {
    this.jobs.inc({ outcome });
  }

  /** How a queued job ended, as the queue reports it (in Redis mode, from the worker that ran it). */
  recordEnding(ending: Ending<JobResult>): void {
    if (ending.kind !== 'completed') return this.count(ending.kind);
    const { outcome, seconds, retried, reason } = ending.result;
    this.count(outcome);
    if (reason === 'nsfw') this.nsfwRefusals.inc();
    if (outcome === 'done' && seconds !== undefined) this.jobDuration.observe(seconds);
    if (retried) this.retries.inc();
  }
}
