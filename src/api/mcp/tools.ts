// The six MCP tools of sandrun (SPEC §6), registered on one McpServer for one caller.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { registerProjectTools } from './project-tools.ts';
import { registerRunTools } from './run-tools.ts';
import type { ToolContext } from './tool-context.ts';

export function registerTools(server: McpServer, context: ToolContext): void {
  registerRunTools(server, context);
  registerProjectTools(server, context);
}
