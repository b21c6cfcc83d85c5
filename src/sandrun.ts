// The composition root: builds every service from one configuration, and tears them down again.
import Dockerode from 'dockerode';
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino, type DestinationStream, type Logger } from 'pino';
import { ArtifactBlobs } from './artifacts/artifact-blobs.ts';
import { RunArtifacts } from './runs/run-artifacts.ts';
import { createApp } from './api/app.ts';
import { mcpHostAllowed } from './api/mcp/allowed-hosts.ts';
import { ApiTokens } from './auth/api-tokens.ts';
import { Authenticator } from './auth/authenticator.ts';
import { JoseJwtVerifier } from './auth/jwt-verifier.ts';
import { TokenAdmin } from './auth/token-admin.ts';
import type { Config } from './config.ts';
import { secureDataDir } from './data-dir.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { DestinationPolicy } from './net/destination-policy.ts';
import { CheckoutCache } from './projects/checkouts.ts';
import { GitRunner } from './projects/git.ts';
import { GitRemotes } from './projects/git-remote.ts';
import { GitMirrors } from './projects/mirror.ts';
import { ProjectSecrets } from './projects/project-secrets.ts';
import { ProjectService } from './projects/project-service.ts';
import { sealCredentialsInUrls } from './projects/url-credentials.ts';
import { LiveLogs } from './runs/live-logs.ts';
import { LiveLogRelay } from './cluster/live-log-relay.ts';
import { clusterParts } from './cluster/cluster-parts.ts';
import { reconcile } from './runs/reconcile.ts';
import { liveRuns, sweepInstances, takeOver } from './runs/takeover.ts';
import { Membership, SingleServer, type RunOwnership } from './cluster/membership.ts';
import { ServerStore } from './store/server-store.ts';
import { RetentionJob } from './runs/retention.ts';
import { DiskGuard } from './runs/disk-guard.ts';
import { EngineGate } from './runs/engine-gate.ts';
import { RunService } from './runs/run-service.ts';
import { UsageReport } from './runs/usage-report.ts';
import { FairScheduler } from './runs/scheduler.ts';
import { ServiceScheduler } from './runs/service-scheduler.ts';
import { DockerBackend } from './sandbox/docker/docker-backend.ts';
import { SecretBox, loadSecretsKey } from './secrets/secret-box.ts';
import type { SandboxBackend } from './sandbox/backend.ts';
import { SwarmBackend } from './sandbox/swarm/swarm-backend.ts';
import { EnvironmentService } from './environments/environment-service.ts';
import { ProjectEnvironments } from './runs/project-environments.ts';
import { readEnvironmentInputs } from './projects/environment-files.ts';
import { EnvironmentStore } from './store/environment-store.ts';
import { AuditLog } from './audit/audit-log.ts';
import { AuditStore } from './store/audit-store.ts';
import { openDatabase, type DatabaseLocation, type StoreDatabase } from './store/database.ts';
import { sql } from 'kysely';
import { RetentionStore } from './store/retention-store.ts';
import { UsageStore } from './store/usage-store.ts';
import { ProjectSecretStore } from './store/project-secret-store.ts';
import { ProjectStore } from './store/project-store.ts';
import { RunStore, type RunRecord } from './store/run-store.ts';
import { TenantStore } from './store/tenant-store.ts';
import { TokenStore } from './store/token-store.ts';
import { VERSION } from './version.ts';
import { WebhookStore } from './store/webhook-store.ts';
import { RETRY_FOR_MS, RETRY_MAX_DELAY_MS } from './webhooks/webhook-backoff.ts';
import { WebhookService } from './webhooks/webhook-service.ts';
import { WebhookWorker } from './webhooks/webhook-worker.ts';
import { PACKAGE_ROOT } from './package-root.ts';
import { EGRESS_CLOSE_WAIT_MS } from './egress/egress-ledger.ts';
import { VerifiedTokens } from './auth/verified-tokens.ts';

const REAP_INTERVAL_MS = 60_000;
const RETENTION_INTERVAL_MS = 15 * 60_000;
const ENVIRONMENT_SWEEP_INTERVAL_MS = 15 * 60_000;
/** The exit code of a server that found itself declared dead by the others (a supervisor starts it again, afresh). */
const MEMBERSHIP_LOST_EXIT_CODE = 75;

/** Why this server cannot give a run network access (SPEC §11), said in the run's 422; null when it can. */
function egressUnavailable(config: Config): string | null {
  if (config.backend.kind === 'swarm') return 'runs on a swarm cannot be given network access yet; only the Docker backend can';
  if (config.runtime === 'runsc') return 'the gVisor runtime (SANDRUN_RUNTIME=runsc) is registered here without networking, so its runs cannot be given network access';
  return null;
}

/** A data directory's identity on the engine, made once: containers of other servers are never reaped by this one. */
function instanceIdOf(dataDir: string): string {
  const file = join(dataDir, 'instance-id');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, `${randomUUID()}\n`, { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // another process made it first
    }
  }
  return readFileSync(file, 'utf8').trim();
}

export interface Sandrun {
  config: Config;
  /** The store's database (SQLite or PostgreSQL); tests reach it for what no API shows. */
  database: StoreDatabase;
  logger: Logger;
  apiTokens: ApiTokens;
  runService: RunService;
  projectService: ProjectService;
  /** A project's secrets; `valuesFor(projectId)` opens them for a run. */
  projectSecrets: ProjectSecrets;
  environments: EnvironmentService;
  sandbox: SandboxBackend;
  metrics: Metrics;
  retention: RetentionJob;
  /** Reconciles runs with the engine, then serves HTTP; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
  /** For a forced stop, in place of close(): removes every container of this server, parked ones first. */
  removeContainers(): Promise<void>;
}

/** JSON lines on stdout (or `destination`, for tests). */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  // Nothing secret is logged on purpose; redaction is the second line of defence should a header, token or parameters slip into a line.
  const options = {
    level: config.logLevel,
    base: { service: 'sandrun' },
    redact: {
      paths: ['authorization', 'token', 'parameters', '*.authorization', '*.token', '*.parameters', 'headers.authorization', '*.headers.authorization', 'req.headers.authorization', 'req.headers.cookie'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Where the database is: PostgreSQL at SANDRUN_DATABASE_URL, else SQLite in the data directory. */
export function databaseLocation(config: Pick<Config, 'dataDir' | 'databaseUrl'>): DatabaseLocation {
  return config.databaseUrl ? { kind: 'postgres', url: config.databaseUrl } : { kind: 'sqlite', file: join(config.dataDir, 'sandrun.db') };
}

/** The stores alone (for CLI commands that work on the database directly, such as `tokens`). */
export async function openStores(config: Pick<Config, 'dataDir' | 'databaseUrl'>, onIdleError?: (error: Error) => void) {
  const database = await openDatabase(databaseLocation(config), onIdleError);
  const { db } = database;
  const tenants = new TenantStore(db);
  const tokens = new TokenStore(db);
  return {
    database,
    tenants,
    tokens,
    projects: new ProjectStore(database),
    projectSecrets: new ProjectSecretStore(db, database.kind),
    runs: new RunStore(db, database.kind),
    environments: new EnvironmentStore(db),
    apiTokens: new ApiTokens(tokens, tenants),
    audit: new AuditStore(db),
    retention: new RetentionStore(database),
    usage: new UsageStore(db),
    webhooks: new WebhookStore(db, database.kind),
  };
}

export type Stores = Awaited<ReturnType<typeof openStores>>;

export async function createSandrun(config: Config, logger: Logger = createLogger(config)): Promise<Sandrun> {
  secureDataDir(config.dataDir, logger);
  const stores = await openStores(config, (error) => logger.warn({ err: error }, 'an idle database connection failed; the pool opens another'));
  const { database } = stores;
  const destinations = new DestinationPolicy(config.allowPrivateDestinations);
  const secrets = new SecretBox(loadSecretsKey(config.dataDir, config.secretsKey));
  const gitRemotes = new GitRemotes({
    policy: destinations,
    allowLocalRepos: config.allowLocalRepos,
    stateDir: join(config.dataDir, 'git'),
    knownHostsFile: config.git.knownHostsFile,
  });
  const git = new GitRunner({
    searchPath: config.git.searchPath,
    homeDir: gitRemotes.homeDir,
    allowLocalRepos: config.allowLocalRepos,
    caFile: config.git.caFile,
    sshCommand: gitRemotes.sshCommand(),
    logger,
  });
  const mirrors = new GitMirrors(join(config.dataDir, 'mirrors'), git, gitRemotes);
  const checkouts = new CheckoutCache(join(config.dataDir, 'checkouts'), mirrors);
  const diskGuard = new DiskGuard(config.dataDir, config.minFreeBytes);
  const projectService = new ProjectService(stores.projects, stores.tenants, stores.runs, mirrors, checkouts, {
    allowLocalRepos: config.allowLocalRepos,
    images: config.images,
    secrets,
    secretStore: stores.projectSecrets,
    // Warm containers of a refreshed or removed project must not serve its next runs.
    onProjectChanged: (projectId) => sandbox.releaseWarm({ 'sandrun.project_id': projectId }),
    limits: config.repoLimits,
    egressAllow: config.egressAllow,
    assertDiskRoom: () => diskGuard.assertRoom(),
  });
  // Read at scrape time, so the scheduler and the sandbox (built below) may come later.
  const metrics = createMetrics({
    queueDepth: () => scheduler.queuedCount,
    runningRuns: () => scheduler.runningCount,
    poolCounts: () => (sandbox instanceof DockerBackend ? sandbox.poolStats : undefined),
  });
  const instanceId = instanceIdOf(config.dataDir);
  // PostgreSQL: servers that know each other (who is alive, who answers for which run); SQLite: this one answers for all.
  const membership =
    database.kind === 'postgres'
      ? new Membership({
          servers: new ServerStore(database.db),
          runs: stores.runs,
          instanceId,
          heartbeatMs: config.membership.heartbeatMs,
          deadMs: config.membership.deadMs,
          logger,
          // Its runs may be another server's by now: carrying on would run them twice. Like a kill -9, containers stay for the takers.
          onLost: (reason) => {
            logger.fatal({ reason }, 'this server was taken for dead by the others; exiting so that it starts again afresh');
            process.exit(MEMBERSHIP_LOST_EXIT_CODE);
          },
        })
      : undefined;
  const ownership: RunOwnership = membership ?? new SingleServer(stores.runs);
  const hardening = {
    instanceId,
    runtime: config.runtime,
    tmpMb: config.tmpMb,
    outputsCapBytes: config.outputsCapBytes,
    outputsMaxEntries: config.outputsMaxEntries,
    fileSizeMb: config.fileSizeMb,
    openFiles: config.openFiles,
    logCapBytes: config.logCapBytes,
  };
  const sandbox: SandboxBackend =
    config.backend.kind === 'swarm'
      ? new SwarmBackend({ ...hardening, ...config.backend, workDir: join(config.dataDir, 'swarm-images'), engineCallTimeoutMs: config.engineCallTimeoutMs })
      : new DockerBackend(
          new Dockerode(),
          {
            ...hardening,
            runsDir: join(config.dataDir, 'runs'),
            secretsDir: config.runSecretsDir,
            pool: config.pool,
            outputsHelperImage: config.outputsHelperImage,
            engineCallTimeoutMs: config.engineCallTimeoutMs,
            // The proxy exists only where the operator grants anything: without rules no run asks it for a thing.
            ...(config.egressAllow.length > 0
              ? { egress: { image: config.egressProxyImage, program: join(PACKAGE_ROOT, 'dist', 'egress-proxy.mjs'), dir: join(config.dataDir, 'egress'), closeWaitMs: EGRESS_CLOSE_WAIT_MS } }
              : {}),
          },
          (error) => logger.warn({ err: error }, 'an engine call failed; the sandbox worked around it (a warm container dropped, a leftover container left for the next sweep)'),
        );
  const cluster = await clusterParts(config, logger);
  const tenantRunLimits = { maxConcurrent: config.tenantMaxConcurrentRuns, maxQueued: config.tenantMaxQueuedRuns };
  // Servers sharing a database hold the run limits together (slots and queue places in it); one alone, in memory.
  const scheduler = cluster.signals.spansServers
    ? new ServiceScheduler({
        maxConcurrent: config.maxConcurrentRuns,
        maxQueued: config.maxQueuedRuns,
        tenantLimits: tenantRunLimits,
        slots: stores.runs.slots,
        signals: cluster.signals,
        logger,
      })
    : new FairScheduler(config.maxConcurrentRuns, config.maxQueuedRuns, tenantRunLimits);
  const liveLogs = new LiveLogs(config.logCapBytes);
  const engineGate = new EngineGate({
    ping: () => sandbox.ping(),
    onChange: (available, reason) =>
      available ? logger.info('the engine answers again; waiting runs start') : logger.error({ reason }, 'the engine stopped answering; runs wait'),
  });
  const auditLog = new AuditLog(stores.audit);
  const environments = new EnvironmentService({
    store: stores.environments,
    images: sandbox.environments,
    readInputs: (target) => readEnvironmentInputs(mirrors, target.projectId, target.commitSha, target.declaration),
    settings: config.builds,
    caFile: config.builds.caFile,
    metrics,
    audit: auditLog,
    logger,
  });
  const projectSecrets = new ProjectSecrets({ projects: projectService, store: stores.projectSecrets, box: secrets, maxPerProject: config.projectMaxSecrets });
  const webhooks = new WebhookService({
    store: stores.webhooks,
    tenants: stores.tenants,
    box: secrets,
    destinations,
    allowPlainHttp: config.allowPrivateDestinations,
    maxPerTenant: config.webhooks.tenantMax,
  });
  const webhookWorker = new WebhookWorker({
    store: stores.webhooks,
    box: secrets,
    destinations,
    allowPlainHttp: config.allowPrivateDestinations,
    retry: { baseMs: config.webhooks.retryBaseMs, maxDelayMs: RETRY_MAX_DELAY_MS, giveUpAfterMs: RETRY_FOR_MS },
    userAgent: `sandrun-webhooks/${VERSION}`,
    logger,
  });
  /** A finished run's webhook deliveries are queued in the database, then the worker is woken to send them. */
  const queueDeliveries = async (run: RunRecord): Promise<void> => {
    try {
      if ((await webhooks.runFinished(run)) > 0) webhookWorker.wake();
    } catch (error) {
      logger.error({ err: error, runId: run.id, tenantId: run.tenantId }, "could not queue the run's webhook deliveries");
    }
  };
  const artifactBlobs = new ArtifactBlobs(config.artifactsDir);
  const runService = new RunService({
    runs: stores.runs,
    projects: projectService,
    sandbox,
    scheduler,
    liveLogs,
    signals: cluster.signals,
    ownership,
    config,
    logger,
    metrics,
    engine: engineGate,
    disk: diskGuard,
    environments,
    secretsOf: (projectId) => projectSecrets.valuesFor(projectId),
    egressUnavailable: egressUnavailable(config),
    onFinished: queueDeliveries,
    artifacts: artifactBlobs,
  });
  // The async store's seam: how a server reads an end another one recorded.
  const liveLogRelay = new LiveLogRelay({ signals: cluster.signals, liveLogs, reload: (runId) => runService.finishedRun(runId) });
  const projectEnvironments = new ProjectEnvironments({ projects: projectService, environments, defaultImage: config.defaultImage });
  const retention = new RetentionJob(stores.retention, stores.runs.idempotencyKeys, checkouts, artifactBlobs, config.retentionDays, logger, (projectId) =>
    sandbox.releaseWarm({ 'sandrun.project_id': projectId }),
  );
  // On PostgreSQL a token's lookup is a round trip of every request: a verified token is trusted for a few seconds there.
  const verifiedTokens = cluster.signals.spansServers ? new VerifiedTokens(stores.apiTokens, cluster.signals) : undefined;
  const authenticator = new Authenticator(verifiedTokens ?? stores.apiTokens, config.jwt ? new JoseJwtVerifier(config.jwt, destinations) : undefined);
  const { handler, warmUp } = createApp({
    authenticator,
    rateLimiter: cluster.rateLimiter,
    tokenAdmin: new TokenAdmin(stores.apiTokens, verifiedTokens && ((id, tenantId) => verifiedTokens.revoke(id, tenantId))),
    runService,
    runArtifacts: new RunArtifacts(stores.runs, artifactBlobs),
    projectService,
    projectSecrets,
    webhooks,
    liveLogs: liveLogRelay,
    logStreams: { slots: cluster.logStreamSlots, maxBacklogBytes: config.logStreamBacklogBytes },
    usageReport: new UsageReport(stores.usage, config.tenantDailyCpuSeconds),
    auditLog,
    environments,
    projectEnvironments,
    metrics,
    version: VERSION,
    logger,
    mcpHostAllowed: mcpHostAllowed({ bindHost: config.host, publicUrl: config.publicUrl, extraHosts: config.mcpAllowedHosts }),
    parametersMaxDepth: config.parametersMaxDepth,
    readiness: {
      database: () => sql`SELECT 1`.execute(database.db),
      engine: () =>
        sandbox.ping().catch((error: unknown) => {
          engineGate.markDown(error);
          throw error;
        }),
    },
  });

  let server: Server | undefined;
  let reaper: NodeJS.Timeout | undefined;
  let environmentSweep: NodeJS.Timeout | undefined;

  return {
    config,
    database,
    logger,
    apiTokens: stores.apiTokens,
    runService,
    projectService,
    projectSecrets,
    environments,
    sandbox,
    metrics,
    retention,
    async listen() {
      const halfBuilt = await checkouts.removeLeftovers();
      if (halfBuilt > 0) logger.info({ removed: halfBuilt }, 'removed half-built checkouts of a previous run of the server');
      gitRemotes.removeLeftoverKeys();
      const sealed = await sealCredentialsInUrls({ projects: stores.projects, mirrors, secrets, logger });
      if (sealed > 0) logger.info({ projects: sealed }, "moved credentials out of projects' repository URLs into sealed credentials");
      // Before pending runs are queued again: a build the last process left unfinished must not answer them as failed.
      await environments.recover();
      // Before runs are queued: cancels and follows from other servers must reach the ones this server takes.
      await cluster.start();
      const carriers = { projects: stores.projects, runService, sandbox, ownership, logger };
      await reconcile(carriers);
      membership?.start({
        takeOver: (runs) => takeOver(runs, carriers),
        // A dead server's parked containers go once it has been dead a while (one it started just before it died included).
        sweep: (instances) => sweepInstances(instances, { ...carriers, minAgeMs: config.membership.deadMs }),
      });
      reaper = setInterval(() => {
        liveRuns(carriers)
          .then(({ isLive, keep }) => sandbox.reap(isLive, { minAgeMs: REAP_INTERVAL_MS, keep }))
          .catch((error: unknown) => logger.warn({ err: error }, 'reaper failed'));
      }, REAP_INTERVAL_MS);
      reaper.unref();
      retention.start(RETENTION_INTERVAL_MS);
      // Deliveries left pending by the last process (in flight when it died included) go out again.
      webhookWorker.start();
      environmentSweep = setInterval(() => {
        environments.sweep().catch((error: unknown) => logger.warn({ err: error }, 'removing idle environment images failed'));
      }, ENVIRONMENT_SWEEP_INTERVAL_MS);
      environmentSweep.unref();
      // requestTimeout bounds receiving a request (a body that never completes would hold its socket), not the answer: a
      // sync run's response may take as long as the run (measured on Node 20: a 3 s answer under a 1 s requestTimeout).
      // Node checks for expired requests every connectionsCheckingInterval (30 s by default): a shorter timeout wants more.
      const receiveTimeoutMs = config.requestReceiveTimeoutMs;
      const httpServer = createServer({ connectionsCheckingInterval: Math.min(30_000, Math.max(250, receiveTimeoutMs / 4)) }, handler);
      httpServer.requestTimeout = receiveTimeoutMs;
      httpServer.headersTimeout = receiveTimeoutMs;
      httpServer.keepAliveTimeout = 65_000;
      server = httpServer;
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.port, config.host, resolve);
      });
      const address = httpServer.address() as AddressInfo;
      logger.info({ host: address.address, port: address.port, dataDir: config.dataDir }, 'sandrun is serving');
      setImmediate(() => void warmUp().catch((error: unknown) => logger.error({ err: error }, 'loading the MCP endpoint failed')));
      return address;
    },
    async close() {
      clearInterval(reaper);
      clearInterval(environmentSweep);
      // Stop accepting, let running runs finish (sync clients get their answers), then cut what is left.
      const closed = server ? new Promise<void>((resolve) => server!.close(() => resolve())) : Promise.resolve();
      // No run starts from here on: parked containers go now, not after the grace period (which a forced stop may cut short).
      const released = sandbox.releaseWarm({}).catch((error: unknown) => logger.warn({ err: error }, 'removing parked containers failed'));
      membership?.beginLeaving();
      await runService.shutdown(config.shutdownGraceMs);
      // Its runs ended or were cancelled; those still pending are taken by another server at once.
      await membership?.stop().catch((error: unknown) => logger.warn({ err: error }, 'could not mark this server stopped; the others take its runs once it counts as dead'));
      liveLogRelay.close();
      await cluster.close();
      // Builds under way are stopped (their runs stay pending and the next start builds again).
      await environments.close();
      await released;
      server?.closeAllConnections();
      await closed;
      engineGate.close();
      await retention.stop();
      await webhookWorker.close();
      await sandbox.close();
      await projectService.close();
      await database.close();
    },
    removeContainers() {
      return sandbox.removeAll();
    },
  };
}
