// The express application: request ids, JSON bodies, authentication, every route, one error shape.
import express, { type RequestHandler } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { TokenAdmin } from '../auth/token-admin.ts';
import type { Metrics } from '../metrics.ts';
import type { ProjectSecrets } from '../projects/project-secrets.ts';
import type { ProjectService } from '../projects/project-service.ts';
import type { LiveLogRelay } from '../cluster/live-log-relay.ts';
import type { EnvironmentService } from '../environments/environment-service.ts';
import type { ProjectEnvironments } from '../runs/project-environments.ts';
import type { RunService } from '../runs/run-service.ts';
import type { RunArtifacts } from '../runs/run-artifacts.ts';
import type { UsageReport } from '../runs/usage-report.ts';
import type { WebhookService } from '../webhooks/webhook-service.ts';
import { auditTrail } from './audit-trail.ts';
import { authenticate } from './authenticate.ts';
import { consoleRoutes } from './console-routes.ts';
import './express-types.ts';
import { errorHandler, notFoundHandler } from './http-errors.ts';
import { jsonBody } from './json-body.ts';
import { lazyHandler } from './lazy-handler.ts';
import { openApiRoutes } from './openapi.ts';
import { rateLimit, rateLimitBatchCalls, type RequestBudget } from './rate-limit.ts';
import { assignRequestId } from './request-id.ts';
import { requestLog } from './request-log.ts';
import { runPollFastPath } from './run-poll-fast-path.ts';
import { auditRoutes } from './routes/audit.ts';
import { healthRoutes, type ReadinessChecks } from './routes/health.ts';
import { projectEnvironmentRoutes } from './routes/project-environment.ts';
import { projectSecretRoutes } from './routes/project-secrets.ts';
import { projectRoutes } from './routes/projects.ts';
import { runLogRoutes } from './routes/run-logs.ts';
import type { LogStreamLimits } from './sse-tail.ts';
import { runReplayRoutes } from './routes/run-replay.ts';
import { runReproduceRoutes } from './routes/run-reproduce.ts';
import { runRoutes } from './routes/runs.ts';
import { runArtifactRoutes } from './routes/run-artifacts.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { usageRoutes } from './routes/usage.ts';
import { webhookRoutes } from './routes/webhooks.ts';

export interface AppDependencies {
  authenticator: Authenticator;
  rateLimiter: RequestBudget;
  tokenAdmin: TokenAdmin;
  runService: RunService;
  /** Runs' artifacts (SPEC §12): served by REST and as MCP resources. */
  runArtifacts: RunArtifacts;
  projectService: ProjectService;
  /** Project environments (SPEC §9): the project view's `environment`, builds on request, their logs. */
  environments: EnvironmentService;
  /** The default branch's environment of a project: its view (with the project's), a build on request. */
  projectEnvironments: ProjectEnvironments;
  /** A project's secrets (SPEC §10): set, listed by name, removed. */
  projectSecrets: ProjectSecrets;
  /** A tenant's webhooks (SPEC §12): created, listed, removed, their deliveries shown. */
  webhooks: WebhookService;
  /** Followers of runs' output, wherever the runs execute. */
  liveLogs: LiveLogRelay;
  /** Per-tenant cap and per-client backlog of live-log streams (SPEC §14). */
  logStreams: LogStreamLimits;
  usageReport: UsageReport;
  auditLog: AuditLog;
  readiness: ReadinessChecks;
  metrics: Metrics;
  /** The server's version, shown in the OpenAPI document. */
  version: string;
  logger: Logger;
  /** Whether POST /mcp accepts a Host header (DNS-rebinding protection; see mcp/allowed-hosts.ts). */
  mcpHostAllowed: (host: string | undefined) => boolean;
  /** How deep run parameters may nest; request bodies are bounded a few levels deeper before they are parsed. */
  parametersMaxDepth: number;
}

export interface SandrunApp {
  /** What the HTTP server calls: the fast path for polling a run, express for everything else. */
  handler: (request: IncomingMessage, response: ServerResponse) => void;
  /** Loads what the app loads lazily (the MCP SDK, ~0.3 s here); call once the server listens. */
  warmUp: () => Promise<void>;
}

/**
 * An 'error' event on a response with no listener is an uncaught exception (a write after the end of an event
 * stream, say): each response gets one that logs it instead.
 */
function containResponseErrors(logger: Logger): RequestHandler {
  return (request, response, next) => {
    response.on('error', (error) => (request.log ?? logger).warn({ err: error, requestId: request.id }, 'writing a response failed'));
    next();
  };
}

export function createApp(deps: AppDependencies): SandrunApp {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(assignRequestId);
  app.use(containResponseErrors(deps.logger));
  app.use(requestLog(deps.logger, deps.metrics));
  app.use(auditTrail(deps.auditLog, deps.logger));
  // Bodies are read only for the API, and only once the caller is known and within its rate.
  const parseJson = jsonBody({ parametersMaxDepth: deps.parametersMaxDepth });
  app.use('/v1', authenticate(deps.authenticator), rateLimit(deps.rateLimiter), parseJson);
  // Each call of an MCP batch counts: the request paid for one before its body was read, the rest are taken after.
  app.use('/mcp', authenticate(deps.authenticator), rateLimit(deps.rateLimiter), parseJson, rateLimitBatchCalls(deps.rateLimiter));
  // The busiest routes first: every router a request passes through costs it a walk over that router's routes.
  app.use(runRoutes(deps.runService));
  app.use(runLogRoutes(deps.runService, deps.liveLogs, deps.logStreams));
  app.use(runReproduceRoutes(deps.runService));
  app.use(runReplayRoutes(deps.runService));
  app.use(runArtifactRoutes(deps.runArtifacts));
  app.use(projectRoutes(deps.projectService, deps.projectEnvironments));
  app.use(projectEnvironmentRoutes(deps.projectEnvironments, deps.environments, deps.logStreams));
  app.use(projectSecretRoutes(deps.projectSecrets));
  app.use(webhookRoutes(deps.webhooks));
  // The MCP SDK is the heaviest import of all: loaded after start-up, not before readiness.
  const mcp = lazyHandler('/mcp', async () =>
    (await import('./mcp/mcp-endpoint.ts')).mcpRoutes({ runService: deps.runService, runArtifacts: deps.runArtifacts, projectService: deps.projectService, logger: deps.logger, hostAllowed: deps.mcpHostAllowed }),
  );
  app.use(mcp.handler);
  app.use(tokenRoutes(deps.tokenAdmin));
  app.use(usageRoutes(deps.usageReport));
  app.use(auditRoutes(deps.auditLog));
  app.use(healthRoutes({ checks: deps.readiness, metrics: deps.metrics, authenticator: deps.authenticator, logger: deps.logger }));
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
    // Nothing may escape into a rejected promise nobody handles: Node ends the process on those.
    pollRun(request, response)
      .then((answered) => answered || toExpress(), toExpress)
      .catch((error: unknown) => {
        deps.logger.error({ err: error }, 'a request failed outside express');
        response.destroy();
      });
  };
  return { handler, warmUp: mcp.warmUp };
}
