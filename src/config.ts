// The server's and the CLI's configuration: read once from the environment, validated, passed down.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { SandrunError, describeZodIssues } from './errors.ts';
import { DEFAULT_HOST, DEFAULT_PORT, HOST_RULE, PORT_RULE, parseHost, parsePort } from './listen-address.ts';
import type { RunLimits } from './run-limits.ts';
import { parseSecretsKey } from './secrets/secret-box.ts';
import { EGRESS_RULE_FORM, parseEgressRules, type EgressRule } from './egress/egress-rules.ts';
import { ENGINE_HOST_RULE, isLoopback, parseEngineHost } from './sandbox/swarm/engine-address.ts';
import type { EngineTls } from './sandbox/swarm/engine-client.ts';

const boolean = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no', ''])
  .transform((value) => value === '1' || value === 'true' || value === 'yes');
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const positiveNumber = (fallback: number) => z.coerce.number().positive().default(fallback);
const list = (fallback: string[]) =>
  z
    .string()
    .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean))
    .default(fallback);

/** A variable read by a plain function (undefined: it names nothing valid) that the CLI shares without zod. */
const byRule = <T>(parse: (text: string) => T | undefined, rule: string, fallback: T) =>
  z
    .string()
    .optional()
    .transform((text, context): T => {
      if (text === undefined) return fallback;
      const value = parse(text);
      if (value === undefined) {
        context.addIssue({ code: 'custom', message: rule });
        return z.NEVER;
      }
      return value;
    });

const MiB = 1024 * 1024;
/**
 * Under gVisor the sandbox's own threads count against the container's pids limit, and hitting it ends the whole
 * sandbox (exit 2, no message). Measured through sandrun's launcher: a Python model at pids 64 ended so 4 times in 5,
 * at 96 and 128 never (5 of 5). Runs under gVisor get at least this many (docs/decisions.md).
 */
const GVISOR_MIN_PIDS = 128;
/** Builds trust what the server's host trusts, unless told otherwise ('' = Debian's own CAs in the build). */
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
function buildCaFile(value: string | undefined): string | undefined {
  if (value === '') return undefined;
  if (value !== undefined) return resolve(value);
  return existsSync(HOST_CA_BUNDLE) ? HOST_CA_BUNDLE : undefined;
}
const DEFAULT_NPM_REGISTRY = 'https://registry.npmjs.org/';
const withTrailingSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);
/** Where git and ssh are looked up when the server's environment has no PATH. */
const DEFAULT_SEARCH_PATH = '/usr/local/bin:/usr/bin:/bin';
/** An unset variable and an empty one (docker-compose passes `${VAR:-}` through as '') mean the same. */
const optionalUrl = z.preprocess((value) => (value === '' ? undefined : value), z.string().url().regex(/^https?:\/\//i, 'must be an http:// or https:// URL').optional());
/** `host` or `host:port` as a Host header carries it (`[::1]:8080` for IPv6). */
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i;

const environmentSchema = z.object({
  SANDRUN_HOST: byRule(parseHost, HOST_RULE, DEFAULT_HOST),
  SANDRUN_PORT: byRule(parsePort, PORT_RULE, DEFAULT_PORT),
  SANDRUN_DATA_DIR: z.string().min(1).default('./data'),
  SANDRUN_ARTIFACTS_DIR: z.preprocess((value) => (value === '' ? undefined : value), z.string().min(1).optional()),
  // Its password never appears in a message: only the rule is named.
  SANDRUN_DATABASE_URL: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z.string().regex(/^postgres(ql)?:\/\/[^\s]+$/i, 'must be a postgres:// or postgresql:// URL').optional(),
  ),
  SANDRUN_RUN_SECRETS_DIR: z.string().min(1).default('/dev/shm/sandrun-secrets'),
  SANDRUN_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SANDRUN_RUNTIME: z.enum(['runc', 'runsc']).default('runc'),
  SANDRUN_BACKEND: z.enum(['docker', 'swarm']).default('docker'),
  SANDRUN_SWARM_HOST: list([]).pipe(z.array(z.string().refine((host) => parseEngineHost(host) !== undefined, `each ${ENGINE_HOST_RULE}`))),
  SANDRUN_SWARM_NODE_HOSTS: list([]).pipe(z.array(z.string().refine((host) => parseEngineHost(host) !== undefined, `each ${ENGINE_HOST_RULE}`))),
  SANDRUN_SWARM_BUILD_HOST: z.string().refine((host) => parseEngineHost(host) !== undefined, ENGINE_HOST_RULE).optional(),
  SANDRUN_SWARM_TLS_CA_FILE: z.string().min(1).optional(),
  SANDRUN_SWARM_TLS_CERT_FILE: z.string().min(1).optional(),
  SANDRUN_SWARM_TLS_KEY_FILE: z.string().min(1).optional(),
  SANDRUN_SWARM_ALLOW_PLAIN_TCP: boolean.default(false),
  SANDRUN_SWARM_IMAGE_IDLE_SECONDS: positiveInt(600),
  SANDRUN_MAX_CONCURRENT_RUNS: positiveInt(4),
  SANDRUN_MAX_QUEUED_RUNS: positiveInt(200),
  SANDRUN_TENANT_MAX_CONCURRENT_RUNS: z.coerce.number().int().positive().optional(),
  SANDRUN_TENANT_MAX_QUEUED_RUNS: positiveInt(50),
  SANDRUN_RATE_LIMIT_PER_MINUTE: positiveInt(600),
  SANDRUN_PARAMETERS_MAX_DEPTH: positiveInt(32),
  SANDRUN_PUBLIC_URL: optionalUrl,
  SANDRUN_MCP_ALLOWED_HOSTS: list([]).pipe(z.array(z.string().regex(HOST_HEADER, 'each must be a host name or address, optionally with :port'))),
  SANDRUN_LOG_CAP_BYTES: positiveInt(1 * MiB),
  SANDRUN_TENANT_MAX_LOG_STREAMS: positiveInt(8),
  SANDRUN_LOG_STREAM_BACKLOG_BYTES: positiveInt(1 * MiB),
  SANDRUN_OUTPUTS_CAP_BYTES: positiveInt(10 * MiB),
  SANDRUN_OUTPUTS_MAX_ENTRIES: positiveInt(1000),
  SANDRUN_TMP_MB: positiveInt(64),
  SANDRUN_FILE_SIZE_MB: positiveInt(64),
  SANDRUN_OPEN_FILES: positiveInt(1024),
  SANDRUN_POOL_SIZE: z.coerce.number().int().min(0).default(4),
  SANDRUN_POOL_PER_TENANT: positiveInt(2),
  SANDRUN_POOL_PER_TEMPLATE: positiveInt(2),
  SANDRUN_POOL_IDLE_SECONDS: positiveInt(600),
  SANDRUN_TENANT_DAILY_CPU_SECONDS: z.coerce.number().positive().optional(),
  SANDRUN_RETENTION_DAYS: z.coerce.number().int().min(0).default(30),
  SANDRUN_SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).default(30),
  SANDRUN_HEARTBEAT_SECONDS: positiveNumber(5),
  SANDRUN_SERVER_DEAD_SECONDS: positiveNumber(30),
  SANDRUN_REQUEST_RECEIVE_TIMEOUT_SECONDS: positiveNumber(60),
  SANDRUN_ENGINE_CALL_TIMEOUT_SECONDS: positiveNumber(30),
  SANDRUN_MIN_FREE_MB: z.coerce.number().int().min(0).default(256),
  SANDRUN_ALLOW_LOCAL_REPOS: boolean.default(false),
  SANDRUN_REPO_MAX_MB: positiveInt(500),
  SANDRUN_REPO_MAX_FILES: positiveInt(50_000),
  SANDRUN_MAX_CONCURRENT_CLONES: positiveInt(4),
  SANDRUN_TENANT_MAX_CONCURRENT_CLONES: positiveInt(2),
  SANDRUN_TENANT_MAX_PROJECTS: positiveInt(100),
  SANDRUN_MANIFEST_MAX_BYTES: positiveInt(64 * 1024),
  SANDRUN_ALLOW_PRIVATE_DESTINATIONS: boolean.default(false),
  SANDRUN_EGRESS_ALLOW: list([]).transform((entries, context): EgressRule[] => {
    const { rules, problems } = parseEgressRules(entries);
    for (const problem of problems) context.addIssue({ code: 'custom', message: `${problem}; each entry is ${EGRESS_RULE_FORM}` });
    return problems.length > 0 ? z.NEVER : rules;
  }),
  // The value never appears in a message: a typo must not print the key into a log.
  SANDRUN_SECRETS_KEY: z
    .string()
    .transform((value, context) => parseSecretsKey(value) ?? (context.addIssue({ code: 'custom', message: 'must be 32 bytes, as 64 hex digits or base64' }), z.NEVER))
    .optional(),
  SANDRUN_PROJECT_MAX_SECRETS: positiveInt(100),
  SANDRUN_TENANT_MAX_WEBHOOKS: positiveInt(10),
  SANDRUN_WEBHOOK_RETRY_BASE_SECONDS: positiveNumber(10),
  SANDRUN_GIT_CA_FILE: z.string().min(1).optional(),
  SANDRUN_GIT_KNOWN_HOSTS_FILE: z.string().min(1).optional(),
  SANDRUN_IMAGES: list(['sandrun/python:3.11', 'sandrun/node:18']),
  SANDRUN_DEFAULT_IMAGE: z.string().min(1).default('sandrun/python:3.11'),
  SANDRUN_OUTPUTS_HELPER_IMAGE: z.string().min(1).default('sandrun/base:bookworm'),
  SANDRUN_EGRESS_PROXY_IMAGE: z.string().min(1).default('sandrun/node:18'),
  SANDRUN_BUILD_TIMEOUT_SECONDS: positiveNumber(900),
  SANDRUN_BUILD_MEMORY_MB: positiveInt(2048),
  SANDRUN_BUILD_MAX_IMAGE_MB: positiveInt(4096),
  SANDRUN_BUILD_NETWORK: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'must be a Docker network name').default('bridge'),
  SANDRUN_MAX_CONCURRENT_BUILDS: positiveInt(2),
  SANDRUN_TENANT_MAX_ENVIRONMENTS: positiveInt(20),
  SANDRUN_ENVIRONMENT_IDLE_DAYS: positiveNumber(14),
  SANDRUN_NPM_REGISTRY: optionalUrl,
  SANDRUN_PIP_INDEX_URL: optionalUrl,
  SANDRUN_PIP_FIND_LINKS: z.string().min(1).optional(),
  SANDRUN_BUILD_CA_FILE: z.string().optional(),
  SANDRUN_DEFAULT_TIMEOUT_SECONDS: positiveNumber(300),
  SANDRUN_DEFAULT_MEMORY_MB: positiveInt(256),
  SANDRUN_DEFAULT_CPUS: positiveNumber(1),
  SANDRUN_DEFAULT_PIDS: positiveInt(128),
  SANDRUN_MAX_TIMEOUT_SECONDS: positiveNumber(3600),
  SANDRUN_MAX_MEMORY_MB: positiveInt(4096),
  SANDRUN_MAX_CPUS: positiveNumber(4),
  SANDRUN_MAX_PIDS: positiveInt(1024),
  SANDRUN_JWT_ISSUER: z.string().url().optional(),
  SANDRUN_JWT_AUDIENCE: z.string().min(1).optional(),
  SANDRUN_JWT_JWKS_URL: z.string().url().optional(),
  SANDRUN_JWT_TENANT_CLAIM: z.string().min(1).default('org_id'),
  SANDRUN_JWT_JWKS_COOLDOWN_SECONDS: z.coerce.number().min(0).default(30),
});


export interface RepoLimitsConfig {
  /** A mirror's size on disk, and the sum of a checkout's file sizes. */
  maxBytes: number;
  /** Files in a checkout. */
  maxFiles: number;
  /** Clones and fetches at once: in all, and per tenant. */
  maxConcurrentClones: number;
  tenantMaxConcurrentClones: number;
  tenantMaxProjects: number;
  /** sandrun.yaml's size. */
  manifestMaxBytes: number;
}

export interface BuildSettings {
  timeoutMs: number;
  memoryMb: number;
  maxImageBytes: number;
  /** The Docker network a build's steps join to fetch packages (the runs themselves never have one). */
  network: string;
  maxConcurrent: number;
  /** An environment image no run has used for this long is removed. */
  idleMs: number;
  /** Environment images one tenant may have; a new one replaces its least recently used. */
  tenantMaxEnvironments: number;
  npmRegistry: string;
  /** Unset: pip has no index (only pipFindLinks, if set). */
  pipIndexUrl: string | undefined;
  /** A directory of wheels on the server's host, copied into each pip build. */
  pipFindLinks: string | undefined;
  /** The CAs a build checks its package sources against (a TLS-inspecting proxy's included); undefined: Debian's. */
  caFile: string | undefined;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** Where runs' files under /outputs are kept (content-addressed); several servers of one service share it. Default DATA_DIR/artifacts. */
  artifactsDir: string;
  /** PostgreSQL holds the database (SPEC §13) when set; else SQLite in dataDir (sandrun.db). */
  databaseUrl: string | undefined;
  /** On a host tmpfs: where runs' secrets are written for their containers to mount (Docker backend; secret-files.ts). */
  runSecretsDir: string;
  logLevel: z.infer<typeof environmentSchema>['SANDRUN_LOG_LEVEL'];
  runtime: 'runc' | 'runsc';
  /**
   * Where runs go: the local Docker engine, or a swarm through its managers (managerHosts: in the order they are tried;
   * nodeHosts: every node's engine; tls: the client certificate for tcp+tls:// engines; imageIdleMs: how long a
   * workspace image may stay unused on the nodes; buildHost: the engine environment images are built on, default the managers).
   */
  backend:
    | { kind: 'docker' }
    | { kind: 'swarm'; managerHosts: string[]; nodeHosts: string[]; buildHost: string | undefined; tls: EngineTls | undefined; imageIdleMs: number };
  maxConcurrentRuns: number;
  maxQueuedRuns: number;
  /** Per tenant: runs at once (default: all slots but one, so another tenant always finds one) and runs waiting. */
  tenantMaxConcurrentRuns: number;
  tenantMaxQueuedRuns: number;
  /** Requests per minute per tenant, all its credentials together (token bucket); each call of an MCP batch counts. */
  rateLimitPerMinute: number;
  /** How deep a run's `parameters` may nest (an object or array is one level). */
  parametersMaxDepth: number;
  /** The URL clients reach the server at, through a proxy or a published port; its host is accepted by /mcp. */
  publicUrl: string | undefined;
  /** Further Host header values /mcp accepts (a name without a port: at any port), besides loopback names and publicUrl's host. */
  mcpAllowedHosts: string[];
  logCapBytes: number;
  /** Live-log (SSE) streams a tenant may have open at once. */
  tenantMaxLogStreams: number;
  /** Live output that may wait unsent for one log-stream client; past it, the client is dropped. */
  logStreamBacklogBytes: number;
  outputsCapBytes: number;
  outputsMaxEntries: number;
  tmpMb: number;
  fileSizeMb: number;
  openFiles: number;
  pool: { maxTotal: number; maxPerTenant: number; maxPerTemplate: number; maxIdleMs: number };
  /** CPU seconds a tenant's runs may use per UTC day; undefined = unlimited. */
  tenantDailyCpuSeconds: number | undefined;
  /** Days a finished run keeps its logs and outputs (a tenant may have its own value). */
  retentionDays: number;
  /** On SIGTERM, how long running runs may go on before they are cancelled. */
  shutdownGraceMs: number;
  /** PostgreSQL: how often a server says it is alive, and after how long without a word it is dead (its runs are taken over). */
  membership: { heartbeatMs: number; deadMs: number };
  /** How long a client may take to send a request's headers and body (408 past it); the answer itself is not bounded. */
  requestReceiveTimeoutMs: number;
  /** How long any engine request may wait for the engine's answer (a stream: its start); a container's wait and uploads excepted. */
  engineCallTimeoutMs: number;
  /** Below this much free space on the data directory's disk, no run is accepted or started and no repository cloned or fetched. */
  minFreeBytes: number;
  allowLocalRepos: boolean;
  /** What one tenant's repositories may take of the host (SPEC §14); see docs/security.md. */
  repoLimits: RepoLimitsConfig;
  /** Server-side fetches (git, JWKS) may reach loopback, link-local, private and metadata addresses. */
  allowPrivateDestinations: boolean;
  /** What runs may reach through the egress proxy (SPEC §11): a project's network.allow is granted only where these cover it. Default: nothing. */
  egressAllow: EgressRule[];
  /** The key that seals repository credentials and project secrets at rest; undefined: a key file in the data directory. */
  secretsKey: Buffer | undefined;
  /** How many secrets one project may hold (SPEC §10); each is a file in every run of it. */
  projectMaxSecrets: number;
  /** Webhooks (SPEC §12): how many one tenant may have, and the first wait before a failed delivery is tried again (it doubles, up to 1 h). */
  webhooks: { tenantMax: number; retryBaseMs: number };
  /**
   * How git runs: with this PATH and nothing else from the server's environment (no HOME, no SSH agent, no proxy);
   * `caFile` replaces the system's CA bundle for https; `knownHostsFile` (strict) replaces accept-new into the data dir.
   */
  git: { searchPath: string; caFile: string | undefined; knownHostsFile: string | undefined };
  images: string[];
  defaultImage: string;
  /** Holds and reads /outputs for runs on images without a shell; needs `sleep` and `tar`. */
  outputsHelperImage: string;
  /** The image the egress proxy runs on (Node 18 or later); used only when SANDRUN_EGRESS_ALLOW grants anything. */
  egressProxyImage: string;
  defaultLimits: RunLimits;
  maxLimits: RunLimits;
  /** How project environments are built (SPEC §9) and where their packages come from; see docs/environments.md. */
  builds: BuildSettings;
  /** The fewest pids a run may be limited to: what the runtime itself needs (gVisor's own threads count against it). */
  minPids: number;
  jwt: { issuer: string; audience: string; jwksUrl: string; tenantClaim: string; jwksCooldownMs: number } | undefined;
}

type Environment = z.infer<typeof environmentSchema>;

function invalid(message: string): SandrunError {
  return new SandrunError('invalid_request', `invalid configuration: ${message}`);
}

/** A PEM file of the swarm's TLS settings, read at start so that a wrong path fails there, naming its variable. */
function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(resolve(file));
  } catch (error) {
    throw invalid(`${variable} ${file} cannot be read: ${(error as Error).message}`);
  }
}

function swarmTls(e: Environment): EngineTls {
  const files = { SANDRUN_SWARM_TLS_CA_FILE: e.SANDRUN_SWARM_TLS_CA_FILE, SANDRUN_SWARM_TLS_CERT_FILE: e.SANDRUN_SWARM_TLS_CERT_FILE, SANDRUN_SWARM_TLS_KEY_FILE: e.SANDRUN_SWARM_TLS_KEY_FILE };
  const unset = Object.entries(files).filter(([, file]) => file === undefined).map(([name]) => name);
  if (unset.length > 0) throw invalid(`${unset.join(', ')} must be set: a tcp+tls:// swarm engine is reached with sandrun's client certificate, verified against the CA`);
  const ca = readPem('SANDRUN_SWARM_TLS_CA_FILE', files.SANDRUN_SWARM_TLS_CA_FILE!);
  const cert = readPem('SANDRUN_SWARM_TLS_CERT_FILE', files.SANDRUN_SWARM_TLS_CERT_FILE!);
  const key = readPem('SANDRUN_SWARM_TLS_KEY_FILE', files.SANDRUN_SWARM_TLS_KEY_FILE!);
  const parse = <T>(variable: string, what: string, read: () => T): T => {
    try {
      return read();
    } catch (error) {
      throw invalid(`${variable} does not hold a PEM ${what}: ${(error as Error).message}`);
    }
  };
  parse('SANDRUN_SWARM_TLS_CA_FILE', 'certificate', () => new X509Certificate(ca));
  const certificate = parse('SANDRUN_SWARM_TLS_CERT_FILE', 'certificate', () => new X509Certificate(cert));
  const privateKey = parse('SANDRUN_SWARM_TLS_KEY_FILE', 'private key', () => createPrivateKey(key));
  if (!certificate.checkPrivateKey(privateKey)) throw invalid('SANDRUN_SWARM_TLS_KEY_FILE is not the key of the certificate in SANDRUN_SWARM_TLS_CERT_FILE');
  return { ca, cert, key };
}

/**
 * An engine's API is root on its machine: plain tcp:// is accepted only on loopback, or by SANDRUN_SWARM_ALLOW_PLAIN_TCP
 * (a network the operator vouches for); tcp+tls:// needs the three TLS files.
 */
function swarmBackend(e: Environment, managerHosts: string[]): Config['backend'] {
  const nodeHosts = e.SANDRUN_SWARM_NODE_HOSTS.length > 0 ? e.SANDRUN_SWARM_NODE_HOSTS : managerHosts;
  const buildHost = e.SANDRUN_SWARM_BUILD_HOST;
  const hosts = [
    ...managerHosts.map((host) => ['SANDRUN_SWARM_HOST', host] as const),
    ...nodeHosts.map((host) => ['SANDRUN_SWARM_NODE_HOSTS', host] as const),
    ...(buildHost ? [['SANDRUN_SWARM_BUILD_HOST', buildHost] as const] : []),
  ];
  let tlsNeeded = false;
  for (const [variable, host] of hosts) {
    const address = parseEngineHost(host)!;
    if (address.kind !== 'tcp') continue;
    if (address.tls) tlsNeeded = true;
    else if (!isLoopback(address.hostname) && !e.SANDRUN_SWARM_ALLOW_PLAIN_TCP) {
      throw invalid(
        `${variable} ${host} is plain TCP to a non-loopback address: whoever can reach it controls that engine, and anyone on the path can read and alter runs; use tcp+tls:// with SANDRUN_SWARM_TLS_CA_FILE, SANDRUN_SWARM_TLS_CERT_FILE and SANDRUN_SWARM_TLS_KEY_FILE, or set SANDRUN_SWARM_ALLOW_PLAIN_TCP=1 for a network you trust`,
      );
    }
  }
  return { kind: 'swarm', managerHosts, nodeHosts, buildHost, tls: tlsNeeded ? swarmTls(e) : undefined, imageIdleMs: e.SANDRUN_SWARM_IMAGE_IDLE_SECONDS * 1000 };
}

/** Reads the configuration from an environment; throws one message that names every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const relevant = Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith('SANDRUN_')));
  const parsed = environmentSchema.safeParse(relevant);
  if (!parsed.success) {
    throw new SandrunError('invalid_request', `invalid configuration: ${describeZodIssues(parsed.error.issues)}`);
  }
  const e = parsed.data;
  if (!e.SANDRUN_IMAGES.includes(e.SANDRUN_DEFAULT_IMAGE)) {
    throw new SandrunError('invalid_request', `invalid configuration: SANDRUN_DEFAULT_IMAGE ${e.SANDRUN_DEFAULT_IMAGE} is not in SANDRUN_IMAGES`);
  }
  if ((e.SANDRUN_JWT_ISSUER === undefined) !== (e.SANDRUN_JWT_AUDIENCE === undefined)) {
    throw new SandrunError('invalid_request', 'invalid configuration: SANDRUN_JWT_ISSUER and SANDRUN_JWT_AUDIENCE are set together or not at all');
  }
  if (e.SANDRUN_BACKEND === 'swarm' && e.SANDRUN_SWARM_HOST.length === 0) {
    throw new SandrunError('invalid_request', 'invalid configuration: SANDRUN_SWARM_HOST (the managers\' engines, comma-separated: unix://, tcp+tls:// or tcp://) is required when SANDRUN_BACKEND=swarm');
  }
  if (e.SANDRUN_SERVER_DEAD_SECONDS < 3 * e.SANDRUN_HEARTBEAT_SECONDS) {
    // Fewer than three missed heartbeats would take a slow but live server's runs from it.
    throw new SandrunError(
      'invalid_request',
      `invalid configuration: SANDRUN_SERVER_DEAD_SECONDS ${e.SANDRUN_SERVER_DEAD_SECONDS} must be at least three times SANDRUN_HEARTBEAT_SECONDS (${e.SANDRUN_HEARTBEAT_SECONDS})`,
    );
  }
  const minPids = e.SANDRUN_RUNTIME === 'runsc' ? GVISOR_MIN_PIDS : 1;
  if (e.SANDRUN_DEFAULT_PIDS < minPids) {
    throw new SandrunError('invalid_request', `invalid configuration: SANDRUN_DEFAULT_PIDS ${e.SANDRUN_DEFAULT_PIDS} is below ${minPids}, the fewest a run can start with under gVisor (SANDRUN_RUNTIME=runsc)`);
  }
  const issuer = e.SANDRUN_JWT_ISSUER;
  return {
    host: e.SANDRUN_HOST,
    port: e.SANDRUN_PORT,
    dataDir: resolve(e.SANDRUN_DATA_DIR),
    artifactsDir: resolve(e.SANDRUN_ARTIFACTS_DIR ?? join(e.SANDRUN_DATA_DIR, 'artifacts')),
    databaseUrl: e.SANDRUN_DATABASE_URL,
    runSecretsDir: resolve(e.SANDRUN_RUN_SECRETS_DIR),
    logLevel: e.SANDRUN_LOG_LEVEL,
    runtime: e.SANDRUN_RUNTIME,
    backend: e.SANDRUN_BACKEND === 'swarm' ? swarmBackend(e, e.SANDRUN_SWARM_HOST) : { kind: 'docker' },
    maxConcurrentRuns: e.SANDRUN_MAX_CONCURRENT_RUNS,
    maxQueuedRuns: e.SANDRUN_MAX_QUEUED_RUNS,
    tenantMaxConcurrentRuns: e.SANDRUN_TENANT_MAX_CONCURRENT_RUNS ?? Math.max(1, e.SANDRUN_MAX_CONCURRENT_RUNS - 1),
    tenantMaxQueuedRuns: e.SANDRUN_TENANT_MAX_QUEUED_RUNS,
    rateLimitPerMinute: e.SANDRUN_RATE_LIMIT_PER_MINUTE,
    parametersMaxDepth: e.SANDRUN_PARAMETERS_MAX_DEPTH,
    publicUrl: e.SANDRUN_PUBLIC_URL,
    mcpAllowedHosts: e.SANDRUN_MCP_ALLOWED_HOSTS.map((host) => host.toLowerCase()),
    logCapBytes: e.SANDRUN_LOG_CAP_BYTES,
    tenantMaxLogStreams: e.SANDRUN_TENANT_MAX_LOG_STREAMS,
    logStreamBacklogBytes: e.SANDRUN_LOG_STREAM_BACKLOG_BYTES,
    outputsCapBytes: e.SANDRUN_OUTPUTS_CAP_BYTES,
    outputsMaxEntries: e.SANDRUN_OUTPUTS_MAX_ENTRIES,
    tmpMb: e.SANDRUN_TMP_MB,
    fileSizeMb: e.SANDRUN_FILE_SIZE_MB,
    openFiles: e.SANDRUN_OPEN_FILES,
    pool: {
      maxTotal: e.SANDRUN_POOL_SIZE,
      maxPerTenant: e.SANDRUN_POOL_PER_TENANT,
      maxPerTemplate: e.SANDRUN_POOL_PER_TEMPLATE,
      maxIdleMs: e.SANDRUN_POOL_IDLE_SECONDS * 1000,
    },
    tenantDailyCpuSeconds: e.SANDRUN_TENANT_DAILY_CPU_SECONDS,
    retentionDays: e.SANDRUN_RETENTION_DAYS,
    shutdownGraceMs: e.SANDRUN_SHUTDOWN_GRACE_SECONDS * 1000,
    membership: { heartbeatMs: e.SANDRUN_HEARTBEAT_SECONDS * 1000, deadMs: e.SANDRUN_SERVER_DEAD_SECONDS * 1000 },
    requestReceiveTimeoutMs: e.SANDRUN_REQUEST_RECEIVE_TIMEOUT_SECONDS * 1000,
    engineCallTimeoutMs: e.SANDRUN_ENGINE_CALL_TIMEOUT_SECONDS * 1000,
    minFreeBytes: e.SANDRUN_MIN_FREE_MB * 1024 * 1024,
    allowLocalRepos: e.SANDRUN_ALLOW_LOCAL_REPOS,
    repoLimits: {
      maxBytes: e.SANDRUN_REPO_MAX_MB * MiB,
      maxFiles: e.SANDRUN_REPO_MAX_FILES,
      maxConcurrentClones: e.SANDRUN_MAX_CONCURRENT_CLONES,
      tenantMaxConcurrentClones: e.SANDRUN_TENANT_MAX_CONCURRENT_CLONES,
      tenantMaxProjects: e.SANDRUN_TENANT_MAX_PROJECTS,
      manifestMaxBytes: e.SANDRUN_MANIFEST_MAX_BYTES,
    },
    allowPrivateDestinations: e.SANDRUN_ALLOW_PRIVATE_DESTINATIONS,
    egressAllow: e.SANDRUN_EGRESS_ALLOW,
    secretsKey: e.SANDRUN_SECRETS_KEY,
    projectMaxSecrets: e.SANDRUN_PROJECT_MAX_SECRETS,
    webhooks: { tenantMax: e.SANDRUN_TENANT_MAX_WEBHOOKS, retryBaseMs: e.SANDRUN_WEBHOOK_RETRY_BASE_SECONDS * 1000 },
    git: {
      searchPath: env.PATH || DEFAULT_SEARCH_PATH,
      caFile: e.SANDRUN_GIT_CA_FILE === undefined ? undefined : resolve(e.SANDRUN_GIT_CA_FILE),
      knownHostsFile: e.SANDRUN_GIT_KNOWN_HOSTS_FILE === undefined ? undefined : resolve(e.SANDRUN_GIT_KNOWN_HOSTS_FILE),
    },
    images: e.SANDRUN_IMAGES,
    defaultImage: e.SANDRUN_DEFAULT_IMAGE,
    outputsHelperImage: e.SANDRUN_OUTPUTS_HELPER_IMAGE,
    egressProxyImage: e.SANDRUN_EGRESS_PROXY_IMAGE,
    defaultLimits: {
      timeoutSeconds: e.SANDRUN_DEFAULT_TIMEOUT_SECONDS,
      memoryMb: e.SANDRUN_DEFAULT_MEMORY_MB,
      cpus: e.SANDRUN_DEFAULT_CPUS,
      pids: e.SANDRUN_DEFAULT_PIDS,
    },
    maxLimits: {
      timeoutSeconds: e.SANDRUN_MAX_TIMEOUT_SECONDS,
      memoryMb: e.SANDRUN_MAX_MEMORY_MB,
      cpus: e.SANDRUN_MAX_CPUS,
      pids: e.SANDRUN_MAX_PIDS,
    },
    builds: {
      timeoutMs: e.SANDRUN_BUILD_TIMEOUT_SECONDS * 1000,
      memoryMb: e.SANDRUN_BUILD_MEMORY_MB,
      maxImageBytes: e.SANDRUN_BUILD_MAX_IMAGE_MB * MiB,
      network: e.SANDRUN_BUILD_NETWORK,
      maxConcurrent: e.SANDRUN_MAX_CONCURRENT_BUILDS,
      idleMs: e.SANDRUN_ENVIRONMENT_IDLE_DAYS * 24 * 3600 * 1000,
      tenantMaxEnvironments: e.SANDRUN_TENANT_MAX_ENVIRONMENTS,
      npmRegistry: withTrailingSlash(e.SANDRUN_NPM_REGISTRY ?? DEFAULT_NPM_REGISTRY),
      pipIndexUrl: e.SANDRUN_PIP_INDEX_URL,
      pipFindLinks: e.SANDRUN_PIP_FIND_LINKS === undefined ? undefined : resolve(e.SANDRUN_PIP_FIND_LINKS),
      caFile: buildCaFile(e.SANDRUN_BUILD_CA_FILE),
    },
    minPids,
    jwt:
      issuer && e.SANDRUN_JWT_AUDIENCE
        ? {
            issuer,
            audience: e.SANDRUN_JWT_AUDIENCE,
            jwksUrl: e.SANDRUN_JWT_JWKS_URL ?? new URL('.well-known/jwks.json', issuer.endsWith('/') ? issuer : `${issuer}/`).toString(),
            tenantClaim: e.SANDRUN_JWT_TENANT_CLAIM,
            jwksCooldownMs: e.SANDRUN_JWT_JWKS_COOLDOWN_SECONDS * 1000,
          }
        : undefined,
  };
}
