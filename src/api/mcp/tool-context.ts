// What every MCP tool handler works with: the caller, the services, and one guard for scopes and failures.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { hasScope, type Principal, type Scope } from '../../auth/principal.ts';
import type { ProjectService } from '../../projects/project-service.ts';
import type { RunService } from '../../runs/run-service.ts';
import type { ErrorCode } from '../../errors.ts';
import { toSandrunError } from '../http-errors.ts';
import { errorResult, missingScopeResult } from './tool-results.ts';

export interface ToolContext {
  principal: Principal;
  runService: RunService;
  projectService: ProjectService;
  logger: Logger;
  /** Told when a tool call is refused or fails (the HTTP status stays 200), for the audit trail. */
  onRefused?: (errorCode: ErrorCode) => void;
}

/** Runs a tool body when the caller has the scope; a missing scope or a thrown error becomes an isError result, never a transport error. */
export async function guarded(context: ToolContext, tool: string, scope: Scope, body: () => CallToolResult | Promise<CallToolResult>): Promise<CallToolResult> {
  if (!hasScope(context.principal, scope)) {
    context.onRefused?.('forbidden');
    return missingScopeResult(scope, tool);
  }
  try {
    return await body();
  } catch (error) {
    context.onRefused?.(toSandrunError(error).code);
    return errorResult(error, context.logger, tool);
  }
}
