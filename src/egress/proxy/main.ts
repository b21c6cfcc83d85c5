// Entry point of the egress proxy process (bundled alone as dist/egress-proxy.js; runs on the Node 18 of sandrun/node:18).
import { mkdirSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { describeZodIssues } from '../../errors.ts';
import { countsDir, proxyReadyPath } from '../egress-files.ts';
import { createEgressProxy } from './egress-proxy.ts';

const number = (fallback: number) => z.coerce.number().int().positive().default(fallback);
/** Set by the server when it starts the proxy's container (egress supervision); the defaults suit a test on 127.0.0.1 too. */
const environmentSchema = z.object({
  EGRESS_DIR: z.string().min(1).default('/egress'),
  EGRESS_HOST: z.string().min(1).default('0.0.0.0'),
  EGRESS_PORT: z.coerce.number().int().min(0).max(65535).default(3128),
  EGRESS_CONNECT_TIMEOUT_MS: number(10_000),
  EGRESS_IDLE_TIMEOUT_MS: number(300_000),
  EGRESS_MAX_CONNECTIONS_PER_RUN: number(64),
  EGRESS_MAX_CONNECTIONS: number(2048),
  EGRESS_SWEEP_INTERVAL_MS: number(250),
});

const log = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);

const parsed = environmentSchema.safeParse(process.env);
if (!parsed.success) {
  log({ event: 'invalid_configuration', message: describeZodIssues(parsed.error.issues) });
  process.exit(2);
}
const env = parsed.data;
// The proxy writes counts; the grants directory is the server's (read-only to the proxy when mounted so).
mkdirSync(countsDir(env.EGRESS_DIR), { recursive: true });
const proxy = createEgressProxy({
  dir: env.EGRESS_DIR,
  connectTimeoutMs: env.EGRESS_CONNECT_TIMEOUT_MS,
  idleTimeoutMs: env.EGRESS_IDLE_TIMEOUT_MS,
  maxConnectionsPerRun: env.EGRESS_MAX_CONNECTIONS_PER_RUN,
  maxConnections: env.EGRESS_MAX_CONNECTIONS,
  sweepIntervalMs: env.EGRESS_SWEEP_INTERVAL_MS,
  log,
});
proxy.server.listen(env.EGRESS_PORT, env.EGRESS_HOST, () => {
  const address = proxy.server.address();
  log({ event: 'listening', port: typeof address === 'object' && address ? address.port : env.EGRESS_PORT });
  // What the server waits for after starting this container: runs must not meet a proxy not yet listening.
  writeFileSync(proxyReadyPath(env.EGRESS_DIR), `${process.pid}\n`);
});
proxy.server.on('error', (error) => {
  log({ event: 'server_error', message: error.message });
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void proxy.close().finally(() => process.exit(0));
  });
}
