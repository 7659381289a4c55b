import { createServer, type Server } from 'node:http';
import type { BotMetrics } from './metrics.ts';

export interface HealthSource {
  /** Gateway ready and every worker alive. */
  healthy(): boolean;
  details(): Record<string, unknown>;
}

/** `GET /healthz` (200 healthy / 503 not, JSON) and `GET /metrics` (Prometheus text) on HEALTH_PORT. */
export async function startHealthServer(port: number, host: string, source: HealthSource, metrics: BotMetrics): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      const ok = source.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', ...source.details() }));
    } else if (req.method === 'GET' && path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(err.message);
        },
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /healthz or /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
