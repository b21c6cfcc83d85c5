// Who did what: records each audited call, and pages through a tenant's entries (newest first) for the API and the CLI.
import { SandrunError } from '../errors.ts';
import type { AuditEntry, AuditStore, NewAuditEntry } from '../store/audit-store.ts';

export interface AuditEntryView {
  id: number;
  at: string;
  tenant: string | null;
  credential_id: string | null;
  action: string;
  target: string | null;
  status: number;
  outcome: AuditEntry['outcome'];
  error_code: string | null;
  source_address: string | null;
  request_id: string | null;
}

export const auditEntryView = (entry: AuditEntry): AuditEntryView => ({
  id: entry.seq,
  at: entry.at,
  tenant: entry.tenantId,
  credential_id: entry.credentialId,
  action: entry.action,
  target: entry.target,
  status: entry.status,
  outcome: entry.outcome,
  error_code: entry.errorCode,
  source_address: entry.sourceAddress,
  request_id: entry.requestId,
});

export class AuditLog {
  constructor(
    private readonly store: AuditStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  record(entry: Omit<NewAuditEntry, 'at'>): Promise<void> {
    return this.store.append({ ...entry, at: this.now().toISOString() });
  }

  /** One page of entries; `tenantId` undefined reads every tenant's (the operator's CLI). */
  async list(tenantId: string | undefined, options: { limit: number; cursor?: string }): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> {
    const beforeSeq = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const rows = await this.store.list({ tenantId, limit: options.limit + 1, beforeSeq });
    const entries = rows.slice(0, options.limit);
    const nextCursor = rows.length > options.limit ? Buffer.from(`audit:${entries[entries.length - 1]!.seq}`).toString('base64url') : null;
    return { entries, nextCursor };
  }
}

function decodeCursor(cursor: string): number {
  const match = /^audit:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new SandrunError('invalid_request', 'cursor: not a cursor this server returned');
  return Number(match[1]);
}
