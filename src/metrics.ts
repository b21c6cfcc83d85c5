// Every Prometheus metric sandrun exports, built in one place and passed by constructor (no global registry).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  /** Terminal runs, by status and tenant (the tenant is shown to admin callers only; see exposition). */
  runsTotal: { inc(labels: { status: string; tenant: string }): void };
  /** Container start to exit, by terminal status. */
  runDuration: Histogram<'status'>;
  /** Submission to the moment the run left the queue. */
  queueWait: Histogram;
  /** From asking the sandbox for a container to the command running (create, start, exec; or a warm-pool hit). */
  containerStart: Histogram;
  /** Environment builds (SPEC §9) by result (ready, failed), their duration, and runs that found their environment built. */
  environmentBuilds: Counter<'result'>;
  environmentBuildSeconds: Histogram<'result'>;
  environmentCacheHits: Counter;
  /** HTTP requests, by method, route pattern and status code. */
  httpRequests: Counter<'method' | 'route' | 'status'>;
  /** Time to answer an HTTP request, by method and route pattern (a sync run's lasts as long as the run). */
  httpDuration: Histogram<'method' | 'route'>;
  /** The Prometheus exposition's content type. */
  contentType: string;
  /**
   * Every metric in Prometheus text format. Tenant names (`sandrun_runs_total`'s `tenant` label) only `withTenants`
   * (an admin caller); otherwise the same series summed over tenants, so anyone may scrape without learning who uses the server.
   */
  exposition(withTenants: boolean): Promise<string>;
}

export interface MetricsSources {
  /** Runs waiting in the queue and runs executing, read at scrape time. */
  queueDepth: () => number;
  runningRuns: () => number;
  /** The warm pool's counts since start (runs that found a parked container ready, and runs that did not); none without a pool. */
  poolCounts?: () => { hits: number; misses: number } | undefined;
}

const RUN_SECONDS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600];
const START_SECONDS = [0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2, 5];
const HTTP_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300];

export function createMetrics(sources?: MetricsSources): Metrics {
  // Three registries: what everyone sees, and the one series in two forms (by status; by status and tenant).
  const registry = new Registry();
  const byStatus = new Registry();
  const byTenant = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const runsHelp = 'Runs that reached a terminal status';
  const runsByStatus = new Counter({ name: 'sandrun_runs_total', help: runsHelp, labelNames: ['status'], registers: [byStatus] });
  const runsByTenant = new Counter({ name: 'sandrun_runs_total', help: runsHelp, labelNames: ['status', 'tenant'], registers: [byTenant] });
  const metrics: Omit<Metrics, 'contentType' | 'exposition'> = {
    runsTotal: {
      inc: ({ status, tenant }) => {
        runsByStatus.inc({ status });
        runsByTenant.inc({ status, tenant });
      },
    },
    runDuration: new Histogram({ name: 'sandrun_run_duration_seconds', help: 'Run duration, container start to exit', labelNames: ['status'], buckets: RUN_SECONDS, registers }),
    queueWait: new Histogram({ name: 'sandrun_queue_wait_seconds', help: 'Time a run waited in the queue before starting', buckets: RUN_SECONDS, registers }),
    containerStart: new Histogram({
      name: 'sandrun_container_start_seconds',
      help: 'Time from asking for a container to the command running',
      buckets: START_SECONDS,
      registers,
    }),
    environmentBuilds: new Counter({ name: 'sandrun_environment_builds_total', help: 'Environment image builds, by result', labelNames: ['result'], registers }),
    environmentBuildSeconds: new Histogram({
      name: 'sandrun_environment_build_seconds',
      help: 'Time an environment image build took, by result',
      labelNames: ['result'],
      buckets: RUN_SECONDS,
      registers,
    }),
    environmentCacheHits: new Counter({ name: 'sandrun_environment_cache_hits_total', help: 'Runs whose environment image was already built', registers }),
    httpRequests: new Counter({ name: 'sandrun_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'], registers }),
    httpDuration: new Histogram({
      name: 'sandrun_http_request_duration_seconds',
      help: 'Time to answer an HTTP request',
      labelNames: ['method', 'route'],
      buckets: HTTP_SECONDS,
      registers,
    }),
  };
  if (sources) {
    new Gauge({ name: 'sandrun_queue_depth', help: 'Runs waiting in the queue', registers, collect() { this.set(sources.queueDepth()); } });
    new Gauge({ name: 'sandrun_runs_running', help: 'Runs executing now', registers, collect() { this.set(sources.runningRuns()); } });
    const poolCounter = (name: string, help: string, read: (counts: { hits: number; misses: number }) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          const counts = sources.poolCounts?.();
          this.reset();
          if (counts) this.inc(read(counts));
        },
      });
    poolCounter('sandrun_pool_hits_total', 'Runs served by a parked (warm) container', (counts) => counts.hits);
    poolCounter('sandrun_pool_misses_total', 'Runs that found no parked container ready', (counts) => counts.misses);
  }
  // Merged registries share the metric objects: built once, they see every later increment.
  const anonymous = Registry.merge([registry, byStatus]);
  const admin = Registry.merge([registry, byTenant]);
  return { ...metrics, contentType: registry.contentType, exposition: (withTenants) => (withTenants ? admin : anonymous).metrics() };
}
