// The composition root: builds every service from one configuration, and tears them down again.
import Dockerode from 'dockerode';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createApp } from './api/app.ts';
import { allowedHostsFor } from './api/mcp/allowed-hosts.ts';
import { RateLimiter } from './api/rate-limit.ts';
import { ApiTokens } from './auth/api-tokens.ts';
import { Authenticator } from './auth/authenticator.ts';
import { JoseJwtVerifier } from './auth/jwt-verifier.ts';
import { TokenAdmin } from './auth/token-admin.ts';
import type { Config } from './config.ts';
import { CheckoutCache } from './projects/checkouts.ts';
import { GitMirrors } from './projects/mirror.ts';
import { ProjectService } from './projects/project-service.ts';
import { LiveLogs } from './runs/live-logs.ts';
import { reconcile } from './runs/reconcile.ts';
import { RunService } from './runs/run-service.ts';
import { FairScheduler } from './runs/scheduler.ts';
import { DockerBackend } from './sandbox/docker/docker-backend.ts';
import { openDatabase, type Db } from './store/database.ts';
import { ProjectStore } from './store/project-store.ts';
import { RunStore } from './store/run-store.ts';
import { TenantStore } from './store/tenant-store.ts';
import { TokenStore } from './store/token-store.ts';

const REAP_INTERVAL_MS = 60_000;

export interface Sandrun {
  config: Config;
  db: Db;
  logger: Logger;
  apiTokens: ApiTokens;
  runService: RunService;
  projectService: ProjectService;
  sandbox: DockerBackend;
  /** Reconciles runs with the engine, then serves HTTP; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { service: 'sandrun' } });
}

/** The stores alone (for CLI commands that work on the database directly, such as `tokens`). */
export function openStores(config: Pick<Config, 'dataDir'>) {
  const db = openDatabase(join(config.dataDir, 'sandrun.db'));
  const tenants = new TenantStore(db);
  const tokens = new TokenStore(db);
  return { db, tenants, tokens, projects: new ProjectStore(db), runs: new RunStore(db), apiTokens: new ApiTokens(tokens, tenants) };
}

export function createSandrun(config: Config, logger: Logger = createLogger(config)): Sandrun {
  const stores = openStores(config);
  const { db } = stores;
  const mirrors = new GitMirrors(join(config.dataDir, 'mirrors'));
  const checkouts = new CheckoutCache(join(config.dataDir, 'checkouts'), mirrors);
  const projectService = new ProjectService(stores.projects, stores.tenants, stores.runs, mirrors, checkouts, {
    allowLocalRepos: config.allowLocalRepos,
    images: config.images,
  });
  const sandbox = new DockerBackend(new Dockerode(), {
    runsDir: join(config.dataDir, 'runs'),
    runtime: config.runtime,
    tmpMb: config.tmpMb,
    outputsCapBytes: config.outputsCapBytes,
    outputsMaxEntries: config.outputsMaxEntries,
    fileSizeMb: config.fileSizeMb,
    openFiles: config.openFiles,
    logCapBytes: config.logCapBytes,
  });
  const scheduler = new FairScheduler(config.maxConcurrentRuns, config.maxQueuedRuns, {
    maxConcurrent: config.tenantMaxConcurrentRuns,
    maxQueued: config.tenantMaxQueuedRuns,
  });
  const liveLogs = new LiveLogs(config.logCapBytes);
  const runService = new RunService(stores.runs, projectService, sandbox, scheduler, liveLogs, config, logger);
  const authenticator = new Authenticator(stores.apiTokens, config.jwt ? new JoseJwtVerifier(config.jwt) : undefined);
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  let boundPort = config.port;
  const app = createApp({
    authenticator,
    rateLimiter: new RateLimiter(config.rateLimitPerMinute),
    tokenAdmin: new TokenAdmin(stores.apiTokens),
    runService,
    projectService,
    liveLogs,
    metrics,
    logger,
    mcpAllowedHosts: () => allowedHostsFor(config.host, boundPort),
    readiness: {
      database: () => db.prepare('SELECT 1').get(),
      engine: () => sandbox.ping(),
    },
  });

  let server: Server | undefined;
  let reaper: NodeJS.Timeout | undefined;

  return {
    config,
    db,
    logger,
    apiTokens: stores.apiTokens,
    runService,
    projectService,
    sandbox,
    async listen() {
      await reconcile({ runs: stores.runs, projects: stores.projects, runService, sandbox, logger });
      reaper = setInterval(() => {
        sandbox.reap((runId) => runService.isActive(runId)).catch((error: unknown) => logger.warn({ err: error }, 'reaper failed'));
      }, REAP_INTERVAL_MS);
      reaper.unref();
      const httpServer = createServer(app);
      // A sync run may outlast Node's default 300 s request timeout, and an SSE stream must outlive it.
      httpServer.requestTimeout = 0;
      httpServer.headersTimeout = 60_000;
      httpServer.keepAliveTimeout = 65_000;
      server = httpServer;
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.port, config.host, resolve);
      });
      const address = httpServer.address() as AddressInfo;
      boundPort = address.port;
      logger.info({ host: address.address, port: address.port, dataDir: config.dataDir }, 'sandrun is serving');
      return address;
    },
    async close() {
      clearInterval(reaper);
      if (server) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server!.close(() => resolve()));
      }
      await runService.shutdown();
      await sandbox.close();
      db.close();
    },
  };
}
