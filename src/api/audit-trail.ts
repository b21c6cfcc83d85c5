// Express middleware that appends one audit entry per mutating call and per denied one, once the response is done (so every route, /mcp included, is covered).
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import type { NewAuditEntry } from '../store/audit-store.ts';
import { contained } from './contained.ts';
import { callKey, type AuditNote } from './express-types.ts';
import { pathSegments } from './request-path.ts';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** 404 is a denial too: another tenant's resource answers 404, and the audit must not tell the two apart either. */
const DENIED_STATUSES = new Set([401, 403, 404, 429]);
/** The MCP tools that change something; a read-only tool call is audited only when denied. */
const MUTATING_TOOLS = new Set(['run', 'cancel_run']);
/** nginx's "client closed request": the caller left before the answer (a sync run still finishes). */
const CLIENT_CLOSED = 499;
/** Actions and targets hold parts of the caller's URL: bounded, so a 16 KB path is not a 16 KB row. */
const MAX_LABEL_LENGTH = 200;

const toolCallSchema = z.object({
  method: z.literal('tools/call'),
  id: z.union([z.string(), z.number()]).optional(),
  params: z.object({ name: z.string(), arguments: z.record(z.string(), z.unknown()).optional() }),
});

type Entry = Omit<NewAuditEntry, 'at'>;
type Outcome = Entry['outcome'];

export function auditTrail(audit: AuditLog, logger: Logger): RequestHandler {
  return (request, response, next) => {
    let recorded = false;
    // A listener: whatever describing or writing the entries throws is logged, never raised into the response's emitter.
    const record = contained(() => request.log ?? logger, 'auditing a request', () => {
      if (recorded) return;
      recorded = true;
      for (const entry of describe(request, response)) {
        audit.record(entry).catch((error: unknown) => (request.log ?? logger).error({ err: error, requestId: request.id }, 'could not append to the audit log'));
      }
    });
    response.on('finish', record);
    response.on('close', record);
    next();
  };
}

/**
 * The entries of one request. Paths are read as express routes them (any case, repeated or trailing slashes,
 * percent-escapes), so `POST /V1/RUNS` is audited like `POST /v1/runs`; each tool call of an MCP batch is its own entry.
 */
function describe(request: Request, response: Response): Entry[] {
  const segments = pathSegments(request.originalUrl);
  const root = segments[0]?.toLowerCase();
  const isMcp = root === 'mcp' && segments.length === 1;
  if (!isMcp && root !== 'v1') return [];
  const status = response.writableFinished ? response.statusCode : CLIENT_CLOSED;
  const note = request.audit ?? {};
  const httpOutcome = outcomeOf(status, note);
  const base = {
    tenantId: request.principal?.tenantId ?? null,
    credentialId: request.principal?.credentialId ?? null,
    status,
    sourceAddress: request.ip ?? request.socket.remoteAddress ?? null,
    requestId: request.id,
  };
  const errorCode = note.errorCode ?? (status === CLIENT_CLOSED ? 'client_closed' : null);
  if (isMcp) {
    const calls = toolCalls(request.body);
    if (calls.length > 0) {
      return calls.flatMap((call) => {
        const refused = call.id === undefined ? undefined : note.calls?.get(callKey(call.id));
        const outcome: Outcome = httpOutcome !== 'ok' ? httpOutcome : (refused?.outcome ?? 'ok');
        if (!MUTATING_TOOLS.has(call.params.name) && outcome !== 'denied') return [];
        return [{ ...base, ...describeTool(call.params), outcome, errorCode: refused?.errorCode ?? errorCode }];
      });
    }
    return httpOutcome === 'denied' ? [{ ...base, action: `${request.method} /mcp`, target: null, outcome: httpOutcome, errorCode }] : [];
  }
  if (READ_METHODS.has(request.method) && httpOutcome !== 'denied') return [];
  const route = describeRoute(request.method, segments);
  return [{ ...base, action: route.action, target: note.target ?? route.target, outcome: httpOutcome, errorCode }];
}

function outcomeOf(status: number, note: AuditNote): Outcome {
  if (DENIED_STATUSES.has(status) || note.outcome === 'denied') return 'denied';
  return status >= 400 || note.outcome === 'failed' ? 'failed' : 'ok';
}

/** The tools/call messages of an MCP body, a single message or a batch; anything else in it is not a tool call. */
function toolCalls(body: unknown): z.infer<typeof toolCallSchema>[] {
  const messages = Array.isArray(body) ? body : [body];
  return messages.flatMap((message) => {
    const parsed = toolCallSchema.safeParse(message);
    return parsed.success ? [parsed.data] : [];
  });
}

const bounded = (label: string): string => (label.length > MAX_LABEL_LENGTH ? `${label.slice(0, MAX_LABEL_LENGTH)}…` : label);

/** Named resources under a resource (`/v1/projects/<name>/secrets/<KEY>`): the segment after each is a name, not a route word. */
const NAMED_CHILDREN = new Set(['secrets']);

/**
 * `POST /v1/runs/:id/cancel` and `run:<id>` from `/v1/runs/<id>/cancel` (in any case): the route, and what it acted on.
 * A named child is `:key` in the action and in the target as written (`project:demo/secret:API_TOKEN`): the audit names
 * a secret by its key, never by anything of the request's body.
 */
function describeRoute(method: string, segments: readonly string[]): { action: string; target: string | null } {
  const [, collection, id, ...rest] = segments;
  const kind = collection?.toLowerCase();
  const restPattern = rest.map((segment) => segment.toLowerCase());
  const [childKind, childName] = restPattern;
  const child = childKind !== undefined && childName !== undefined && NAMED_CHILDREN.has(childKind) ? `${childKind.replace(/s$/, '')}:${rest[1]}` : null;
  if (child !== null) restPattern[1] = ':key';
  const pattern = ['', 'v1', ...(kind === undefined ? [] : [kind]), ...(id === undefined ? [] : [':id']), ...restPattern];
  const resource = kind !== undefined && id !== undefined ? `${kind.replace(/s$/, '')}:${id}` : null;
  const target = resource !== null && child !== null ? `${resource}/${child}` : resource;
  return { action: bounded(`${method} ${pattern.join('/')}`), target: target === null ? null : bounded(target) };
}

function describeTool(params: { name: string; arguments?: Record<string, unknown> }): { action: string; target: string | null } {
  const args = params.arguments ?? {};
  const target = typeof args.run_id === 'string' ? `run:${args.run_id}` : typeof args.project_name === 'string' ? `project:${args.project_name}` : null;
  return { action: bounded(`mcp:${params.name}`), target: target === null ? null : bounded(target) };
}
