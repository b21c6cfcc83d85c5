// What sandrun's middleware adds to an express request.
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.ts';

/** What a route or the error handler tells the audit trail about the call (see audit-trail.ts). */
export interface AuditNote {
  target?: string;
  outcome?: 'denied' | 'failed';
  errorCode?: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    audit?: AuditNote;
    id: string;
    principal?: Principal;
    /** The request's logger (request id, tenant, run id), made on first use; set by requestLog. */
    log?: Logger;
  }
}

