import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobResult } from '../jobs/index.ts';
import type { Ending } from '../queue/index.ts';
import type { ShardState } from './gateway-shards.ts';

/** What the metrics read when scraped. */
export interface MetricSources {
  queueDepth: () => number;
  running: () => number;
  backend: () => string;
  /** The held shards (none before the bot has started). */
  shards: () => ShardState[];
}

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

  /** Event-loop delay since the last scrape, sampled every 10 ms. */
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  constructor(sources: MetricSources) {
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
    const pinged = () => sources.shards().filter((s) => s.pingMs >= 0);
    new Gauge({ name: 'deepdream_gateway_ping_seconds', help: 'Discord gateway heartbeat round trip, mean over the held shards', registers: [this.registry], collect() {
      const shards = pinged();
      if (shards.length) this.set(shards.reduce((sum, s) => sum + s.pingMs, 0) / shards.length / 1000);
    } });
    new Gauge({ name: 'deepdream_gateway_shard_ping_seconds', help: 'Discord gateway heartbeat round trip of each held shard', labelNames: ['shard'] as const, registers: [this.registry], collect() {
      this.reset();
      for (const s of pinged()) this.set({ shard: String(s.id) }, s.pingMs / 1000);
    } });
    new Gauge({ name: 'deepdream_gateway_shard_ready', help: 'Each held shard: 1 when ready, 0 when not (its state is in the label)', labelNames: ['shard', 'state'] as const, registers: [this.registry], collect() {
      this.reset();
      for (const s of sources.shards()) this.set({ shard: String(s.id), state: s.state }, s.state === 'ready' ? 1 : 0);
    } });
    new Gauge({ name: 'deepdream_gateway_shard_guilds', help: 'Servers on each held shard', labelNames: ['shard'] as const, registers: [this.registry], collect() {
      this.reset();
      for (const s of sources.shards()) this.set({ shard: String(s.id) }, s.guilds);
    } });
    // prom-client's names for the same figures; since the previous scrape, so a flood shows as it happens.
    const loop = this.loopDelay;
    loop.enable();
    const lag = (name: string, help: string, read: (h: IntervalHistogram) => number) =>
      new Gauge({ name, help, registers: [this.registry], collect() {
        if (loop.count > 0) this.set(read(loop) / 1e9);
      } });
    lag('nodejs_eventloop_lag_p50_seconds', 'Event-loop delay of the main thread since the last scrape, median', (h) => h.percentile(50));
    lag('nodejs_eventloop_lag_p99_seconds', 'Event-loop delay of the main thread since the last scrape, 99th percentile', (h) => h.percentile(99));
    lag('nodejs_eventloop_lag_max_seconds', 'Event-loop delay of the main thread since the last scrape, longest', (h) => h.max);
    // Registered after the three above, so it runs after them on each scrape: the next one starts afresh.
    new Gauge({ name: 'nodejs_eventloop_lag_samples', help: 'Event-loop delay samples behind the lag figures (one per 10 ms)', registers: [this.registry], collect() {
      this.set(loop.count);
      loop.reset();
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

  /** Stops sampling the event loop (the bot has stopped). */
  close(): void {
    this.loopDelay.disable();
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
