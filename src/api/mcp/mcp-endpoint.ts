// POST /mcp: the Model Context Protocol over Streamable HTTP, stateless (one server and transport per request), for an authenticated caller.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Router } from 'express';
import type { Logger } from 'pino';
import { SandrunError } from '../../errors.ts';
import type { ProjectService } from '../../projects/project-service.ts';
import type { RunService } from '../../runs/run-service.ts';
import type { RunArtifacts } from '../../runs/run-artifacts.ts';
import { registerArtifactResources } from './artifact-resources.ts';
import { principalOf } from '../authenticate.ts';
import { contained } from '../contained.ts';
import { callKey } from '../express-types.ts';
import { registerTools } from './tools.ts';

export interface McpEndpointDependencies {
  runService: RunService;
  runArtifacts: RunArtifacts;
  projectService: ProjectService;
  logger: Logger;
  /** Whether a Host header names this server (DNS-rebinding protection; see allowed-hosts.ts). */
  hostAllowed: (host: string | undefined) => boolean;
}

const SERVER_INFO = { name: 'sandrun', version: '0.1.0' };
const DENIED_CODES = new Set(['forbidden', 'not_found', 'rate_limited', 'queue_full', 'quota_exceeded']);

export function mcpRoutes(deps: McpEndpointDependencies): Router {
  const router = Router();

  router.post('/mcp', async (request, response) => {
    // Checked here rather than by the SDK: Host names are case-insensitive, and the refusal gets sandrun's error shape.
    if (!deps.hostAllowed(request.headers.host)) {
      throw new SandrunError(
        'forbidden',
        `the Host header '${String(request.headers.host ?? '').slice(0, 100)}' does not name this server (DNS-rebinding protection): use a loopback name, or have the operator set SANDRUN_PUBLIC_URL or SANDRUN_MCP_ALLOWED_HOSTS`,
      );
    }
    const server = new McpServer(SERVER_INFO, { capabilities: { tools: {}, resources: {} } });
    registerTools(server, {
      principal: principalOf(request),
      runService: deps.runService,
      projectService: deps.projectService,
      logger: deps.logger,
      onRefused: (callId, errorCode) => {
        const calls = request.audit?.calls ?? new Map();
        calls.set(callKey(callId), { outcome: DENIED_CODES.has(errorCode) ? 'denied' : 'failed', errorCode });
        request.audit = { ...request.audit, calls };
      },
    });
    registerArtifactResources(server, principalOf(request), deps.runArtifacts);
    // Stateless: no session id, JSON responses rather than SSE, so each POST is answered and closed on its own.
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    response.on(
      'close',
      contained(deps.logger, 'closing an MCP request', () => {
        transport.close().catch((error: unknown) => deps.logger.warn({ err: error }, 'closing an MCP transport failed'));
        server.close().catch((error: unknown) => deps.logger.warn({ err: error }, 'closing an MCP server failed'));
      }),
    );
    await server.connect(transport);
    await transport.handleRequest(request, response, request.body);
  });

  // Without sessions there is no server-initiated stream to GET and no session to DELETE.
  router.all('/mcp', (request, response) => {
    response
      .status(405)
      .setHeader('Allow', 'POST')
      .json({ error: { code: 'method_not_allowed', message: `${request.method} /mcp is not supported: this MCP endpoint is stateless, send JSON-RPC messages with POST`, details: null } });
  });

  return router;
}
