// What every MCP tool handler works with: the caller, the services, and one guard for scopes and failures.
import type { CallToolResult, RequestId } from '@modelcontextprotocol/sdk/types.js';
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
  /** Told when a tool call is refused or fails (the HTTP status stays 200), for the audit trail: which call of a batch (its JSON-RPC id), and why. */
  onRefused?: (callId: RequestId, errorCode: ErrorCode) => void;
}

/** What the SDK tells a tool handler about its call: the JSON-RPC id tells the calls of one batch apart. */
export interface ToolCall {
  requestId: RequestId;
}

/** Runs a tool body when the caller has the scope; a missing scope or a thrown error becomes an isError result, never a transport error. */
export async function guarded(
  context: ToolContext,
  call: ToolCall,
  tool: string,
  scope: Scope,
  body: () => CallToolResult | Promise<CallToolResult>,
): Promise<CallToolResult> {
  if (!hasScope(context.principal, scope)) {
    context.onRefused?.(call.requestId, 'forbidden');
    return missingScopeResult(scope, tool);
  }
  try {
    return await body();
  } catch (error) {
    context.onRefused?.(call.requestId, toSandrunError(error).code);
    return errorResult(error, context.logger, tool);
  }
}
