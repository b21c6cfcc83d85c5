// The express application: request ids, JSON bodies, authentication, every route, one error shape.
import express from 'express';
import { randomUUID } from 'node:crypto';
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
import { logTenant, requestLog } from './request-log.ts';
import { auditRoutes } from './routes/audit.ts';
import { healthRoutes, type ReadinessChecks } from './routes/health.ts';
import { projectRoutes } from './routes/projects.ts';
import { runLogRoutes } from './routes/run-logs.ts';
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
  app: express.Express;
  /** Loads what the app loads lazily (the MCP SDK, ~0.3 s here); call once the server listens. */
  warmUp: () => Promise<void>;
}

export function createApp(deps: AppDependencies): SandrunApp {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use((request, response, next) => {
    const incoming = request.headers['x-request-id'];
    request.id = typeof incoming === 'string' && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    response.setHeader('X-Request-Id', request.id);
    next();
  });
  app.use(requestLog(deps.logger, deps.metrics));
  app.use(auditTrail(deps.auditLog, deps.logger));
  app.use(healthRoutes(deps.readiness, deps.metrics.registry));
  app.use(openApiRoutes(deps.version));
  app.use(consoleRoutes());
  app.use('/v1', authenticate(deps.authenticator), logTenant, rateLimit(deps.rateLimiter));
  app.use('/mcp', authenticate(deps.authenticator), logTenant, rateLimit(deps.rateLimiter));
  app.use(express.json({ limit: BODY_LIMIT, strict: false }));
  app.use(runRoutes(deps.runService));
  app.use(runLogRoutes(deps.runService, deps.liveLogs));
  app.use(runReproduceRoutes(deps.runService));
  app.use(projectRoutes(deps.projectService));
  // The MCP SDK is the heaviest import of all: loaded after start-up, not before readiness.
  const mcp = lazyHandler(async () =>
    (await import('./mcp/mcp-endpoint.ts')).mcpRoutes({ runService: deps.runService, projectService: deps.projectService, logger: deps.logger, allowedHosts: deps.mcpAllowedHosts }),
  );
  app.use(mcp.handler);
  app.use(tokenRoutes(deps.tokenAdmin));
  app.use(usageRoutes(deps.usageReport));
  app.use(auditRoutes(deps.auditLog));
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return { app, warmUp: mcp.warmUp };
}
