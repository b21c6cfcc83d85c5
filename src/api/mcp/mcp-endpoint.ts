// POST /mcp: the Model Context Protocol over Streamable HTTP, stateless (one server and transport per request), for an authenticated caller.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Router } from 'express';
import type { Logger } from 'pino';
import type { ProjectService } from '../../projects/project-service.ts';
import type { RunService } from '../../runs/run-service.ts';
import { principalOf } from '../authenticate.ts';
import { registerTools } from './tools.ts';

export interface McpEndpointDependencies {
  runService: RunService;
  projectService: ProjectService;
  logger: Logger;
  /** Host header values to accept; a function because the port is known only once the server is bound. */
  allowedHosts: () => readonly string[];
}

const SERVER_INFO = { name: 'sandrun', version: '0.1.0' };

export function mcpRoutes(deps: McpEndpointDependencies): Router {
  const router = Router();

  router.post('/mcp', async (request, response) => {
    const server = new McpServer(SERVER_INFO, { capabilities: { tools: {} } });
    registerTools(server, {
      principal: principalOf(request),
      runService: deps.runService,
      projectService: deps.projectService,
      logger: deps.logger,
      onRefused: (errorCode) => {
        const denied = errorCode === 'forbidden' || errorCode === 'not_found' || errorCode === 'rate_limited' || errorCode === 'queue_full' || errorCode === 'quota_exceeded';
        request.audit = { ...request.audit, outcome: denied ? 'denied' : 'failed', errorCode };
      },
    });
    // Stateless: no session id, JSON responses rather than SSE, so each POST is answered and closed on its own.
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      enableDnsRebindingProtection: true,
      allowedHosts: [...deps.allowedHosts()],
    });
    response.on('close', () => {
      transport.close().catch((error: unknown) => deps.logger.warn({ err: error }, 'closing an MCP transport failed'));
      server.close().catch((error: unknown) => deps.logger.warn({ err: error }, 'closing an MCP server failed'));
    });
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
