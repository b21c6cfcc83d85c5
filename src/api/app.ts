// The express application: request ids, JSON bodies, authentication, every route, one error shape.
import express from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { TokenAdmin } from '../auth/token-admin.ts';
import type { Metrics } from '../metrics.ts';
import type { ProjectService } from '../projects/project-service.ts';
import type { LiveLogs } from '../runs/live-logs.ts';
import type { RunService } from '../runs/run-service.ts';
import type { UsageReport } from '../runs/usage-report.ts';
import { auditTrail } from './audit-trail.ts';
import { authenticate } from './authenticate.ts';
import { consoleRoutes } from './console-routes.ts';
import './express-types.ts';
import { errorHandler, notFoundHandler } from './http-errors.ts';
import { lazyHandler } from './lazy-handler.ts';
import { openApiRoutes } from './openapi.ts';
import { rateLimit, type RateLimiter } from './rate-limit.ts';
import { assignRequestId } from './request-id.ts';
import { requestLog } from './request-log.ts';
import { runPollFastPath } from './run-poll-fast-path.ts';
import { auditRoutes } from './routes/audit.ts';
import { healthRoutes, type ReadinessChecks } from './routes/health.ts';
import { projectRoutes } from './routes/projects.ts';
import { runLogRoutes, type LogStreamLimits } from './routes/run-logs.ts';
import { runReproduceRoutes } from './routes/run-reproduce.ts';
import { runRoutes } from './routes/runs.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { usageRoutes } from './routes/usage.ts';

export interface AppDependencies {
  authenticator: Authenticator;
  rateLimiter: RateLimiter;
  tokenAdmin: TokenAdmin;
  runService: RunService;
  projectService: ProjectService;
  liveLogs: LiveLogs;
  /** Per-tenant cap and per-client backlog of live-log streams (SPEC §14). */
  logStreams: LogStreamLimits;
  usageReport: UsageReport;
  auditLog: AuditLog;
  readiness: ReadinessChecks;
  metrics: Metrics;
  /** The server's version, shown in the OpenAPI document. */
  version: string;
  logger: Logger;
  /** Host header values POST /mcp accepts (DNS-rebinding protection); read per request, as the port is bound after the app is built. */
  mcpAllowedHosts: () => readonly string[];
}

/** Parameters may be 1 MiB of JSON (413 past that, from the run service); the body around them a little more. */
const BODY_LIMIT = '2mb';

export interface SandrunApp {
  /** What the HTTP server calls: the fast path for polling a run, express for everything else. */
  handler: (request: IncomingMessage, response: ServerResponse) => void;
  /** Loads what the app loads lazily (the MCP SDK, ~0.3 s here); call once the server listens. */
  warmUp: () => Promise<void>;
}

const BODILESS_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function createApp(deps: AppDependencies): SandrunApp {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(assignRequestId);
  app.use(requestLog(deps.logger, deps.metrics));
  app.use(auditTrail(deps.auditLog, deps.logger));
  app.use('/v1', authenticate(deps.authenticator), rateLimit(deps.rateLimiter));
  app.use('/mcp', authenticate(deps.authenticator), rateLimit(deps.rateLimiter));
  const parseJson = express.json({ limit: BODY_LIMIT, strict: false });
  app.use((request, response, next) => (BODILESS_METHODS.has(request.method) ? next() : parseJson(request, response, next)));
  // The busiest routes first: every router a request passes through costs it a walk over that router's routes.
  app.use(runRoutes(deps.runService));
  app.use(runLogRoutes(deps.runService, deps.liveLogs, deps.logStreams));
  app.use(runReproduceRoutes(deps.runService));
  app.use(projectRoutes(deps.projectService));
  // The MCP SDK is the heaviest import of all: loaded after start-up, not before readiness.
  const mcp = lazyHandler('/mcp', async () =>
    (await import('./mcp/mcp-endpoint.ts')).mcpRoutes({ runService: deps.runService, projectService: deps.projectService, logger: deps.logger, allowedHosts: deps.mcpAllowedHosts }),
  );
  app.use(mcp.handler);
  app.use(tokenRoutes(deps.tokenAdmin));
  app.use(usageRoutes(deps.usageReport));
  app.use(auditRoutes(deps.auditLog));
  app.use(healthRoutes(deps.readiness, deps.metrics.registry));
  app.use(openApiRoutes(deps.version));
  app.use(consoleRoutes());
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  const pollRun = runPollFastPath(deps);
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const toExpress = () => {
      if (response.headersSent) response.destroy();
      else app(request, response);
    };
    pollRun(request, response).then((answered) => answered || toExpress(), toExpress);
  };
  return { handler, warmUp: mcp.warmUp };
}
