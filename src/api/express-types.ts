// What sandrun's middleware adds to an express request.
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.ts';

/** What a route or the error handler tells the audit trail about the call (see audit-trail.ts). */
export interface AuditNote {
  target?: string;
  outcome?: 'denied' | 'failed';
  errorCode?: string;
  /** MCP: how each tool call of the request went when it was refused or failed, by its JSON-RPC id (see callKey). */
  calls?: Map<string, { outcome: 'denied' | 'failed'; errorCode: string }>;
}

/** A JSON-RPC id as a map key: 1 and "1" are different ids. */
export const callKey = (id: unknown): string => `${typeof id}:${String(id)}`;

declare module 'express-serve-static-core' {
  interface Request {
    audit?: AuditNote;
    id: string;
    principal?: Principal;
    /** The request's logger (request id, tenant, run id), made on first use; set by requestLog. */
    log?: Logger;
  }
}

