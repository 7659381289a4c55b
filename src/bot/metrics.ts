import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type JobOutcome = 'done' | 'failed' | 'cancelled' | 'refused' | 'not_run';

/** Prometheus metrics of one bot process, in their own registry (no global state between bots in tests). */
export class BotMetrics {
  readonly registry = new Registry();
  readonly jobs = new Counter({ name: 'deepdream_jobs_total', help: 'Dream requests by outcome', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly jobDuration = new Histogram({
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
  readonly retries = new Counter({ name: 'deepdream_job_retries_total', help: 'Dreams retried at a smaller size after a backend error', registers: [this.registry] });

  constructor(sources: { queueDepth: () => number; running: () => number; backend: () => string; gatewayPingMs: () => number }) {
    new Gauge({ name: 'deepdream_queue_depth', help: 'Dreams waiting in the queue', registers: [this.registry], collect() {
      this.set(sources.queueDepth());
    } });
    new Gauge({ name: 'deepdream_jobs_running', help: 'Dreams running now', registers: [this.registry], collect() {
      this.set(sources.running());
    } });
    new Gauge({ name: 'deepdream_backend_info', help: 'The TensorFlow.js backend dreams run on', labelNames: ['backend'] as const, registers: [this.registry], collect() {
      this.reset();
      this.set({ backend: sources.backend() }, 1);
    } });
    new Gauge({ name: 'deepdream_gateway_ping_seconds', help: 'Discord gateway heartbeat round trip', registers: [this.registry], collect() {
      const ms = sources.gatewayPingMs();
      if (ms >= 0) this.set(ms / 1000);
    } });
    for (const outcome of ['done', 'failed', 'cancelled', 'refused', 'not_run'] as const) this.jobs.inc({ outcome }, 0);
  }
}
