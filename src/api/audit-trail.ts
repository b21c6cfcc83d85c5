// Express middleware that appends one audit entry per mutating call and per denied one, once the response is done (so every route, /mcp included, is covered).
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import type { NewAuditEntry } from '../store/audit-store.ts';
import './express-types.ts';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** 404 is a denial too: another tenant's resource answers 404, and the audit must not tell the two apart either. */
const DENIED_STATUSES = new Set([401, 403, 404, 429]);
/** The MCP tools that change something; a read-only tool call is audited only when denied. */
const MUTATING_TOOLS = new Set(['run', 'cancel_run']);
/** nginx's "client closed request": the caller left before the answer (a sync run still finishes). */
const CLIENT_CLOSED = 499;

const toolCallSchema = z.object({
  method: z.literal('tools/call'),
  params: z.object({ name: z.string(), arguments: z.record(z.string(), z.unknown()).optional() }),
});

export function auditTrail(audit: AuditLog, logger: Logger): RequestHandler {
  return (request, response, next) => {
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const entry = describe(request, response);
      if (!entry) return;
      try {
        audit.record(entry);
      } catch (error) {
        (request.log ?? logger).error({ err: error, requestId: request.id }, 'could not append to the audit log');
      }
    };
    response.on('finish', record);
    response.on('close', record);
    next();
  };
}

function describe(request: Request, response: Response): Omit<NewAuditEntry, 'at'> | undefined {
  const path = request.originalUrl.split('?')[0] ?? '';
  const isMcp = path === '/mcp';
  if (!isMcp && !path.startsWith('/v1/')) return undefined;
  const status = response.writableFinished ? response.statusCode : CLIENT_CLOSED;
  const note = request.audit ?? {};
  const outcome = DENIED_STATUSES.has(status) || note.outcome === 'denied' ? 'denied' : status >= 400 || note.outcome === 'failed' ? 'failed' : 'ok';
  const tool = isMcp ? toolCallSchema.safeParse(request.body) : undefined;
  const mutating = tool ? tool.success && MUTATING_TOOLS.has(tool.data.params.name) : !READ_METHODS.has(request.method) && !isMcp;
  if (!mutating && outcome !== 'denied') return undefined;
  const { action, target } = tool?.success ? describeTool(tool.data.params) : describeRoute(request.method, path);
  return {
    tenantId: request.principal?.tenantId ?? null,
    credentialId: request.principal?.credentialId ?? null,
    action,
    target: note.target ?? target,
    status,
    outcome,
    errorCode: note.errorCode ?? (status === CLIENT_CLOSED ? 'client_closed' : null),
    sourceAddress: request.ip ?? request.socket.remoteAddress ?? null,
    requestId: request.id,
  };
}

/** `POST /v1/runs/:id/cancel` and `run:<id>` from `/v1/runs/<id>/cancel`: the route, and what it acted on. */
function describeRoute(method: string, path: string): { action: string; target: string | null } {
  const segments = path.split('/').filter(Boolean);
  if (segments[0] !== 'v1' || segments.length < 3) return { action: `${method} ${path}`, target: null };
  const kind = segments[1]!.replace(/s$/, '');
  const pattern = ['', ...segments.slice(0, 2), ':id', ...segments.slice(3)].join('/');
  return { action: `${method} ${pattern}`, target: `${kind}:${decodeURIComponent(segments[2]!)}` };
}

function describeTool(params: { name: string; arguments?: Record<string, unknown> }): { action: string; target: string | null } {
  const args = params.arguments ?? {};
  const target = typeof args.run_id === 'string' ? `run:${args.run_id}` : typeof args.project_name === 'string' ? `project:${args.project_name}` : null;
  return { action: `mcp:${params.name}`, target };
}
