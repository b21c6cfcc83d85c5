// The audit log's rows: appended, never updated or deleted (triggers refuse both), read newest first.
import type { Selectable } from 'kysely';
import type { Db } from './database.ts';
import type { AuditLogTable } from './schema.ts';

export interface AuditEntry {
  seq: number;
  at: string;
  /** null when the caller could not be identified (401). */
  tenantId: string | null;
  credentialId: string | null;
  action: string;
  target: string | null;
  status: number;
  outcome: 'ok' | 'denied' | 'failed';
  errorCode: string | null;
  sourceAddress: string | null;
  requestId: string | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'seq'>;

type AuditRow = Selectable<AuditLogTable>;

const toEntry = (row: AuditRow): AuditEntry => ({
  seq: row.seq,
  at: row.at,
  tenantId: row.tenant_id,
  credentialId: row.credential_id,
  action: row.action,
  target: row.target,
  status: row.status,
  outcome: row.outcome,
  errorCode: row.error_code,
  sourceAddress: row.source_address,
  requestId: row.request_id,
});

export interface AuditQuery {
  /** undefined: every tenant, and calls no tenant could be named for (operators, from the CLI). */
  tenantId?: string;
  limit: number;
  beforeSeq?: number;
}

export class AuditStore {
  constructor(private readonly db: Db) {}

  async append(entry: NewAuditEntry): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({
        at: entry.at,
        tenant_id: entry.tenantId,
        credential_id: entry.credentialId,
        action: entry.action,
        target: entry.target,
        status: entry.status,
        outcome: entry.outcome,
        error_code: entry.errorCode,
        source_address: entry.sourceAddress,
        request_id: entry.requestId,
      })
      .execute();
  }

  async list(query: AuditQuery): Promise<AuditEntry[]> {
    let select = this.db.selectFrom('audit_log').selectAll();
    if (query.tenantId !== undefined) select = select.where('tenant_id', '=', query.tenantId);
    if (query.beforeSeq !== undefined) select = select.where('seq', '<', query.beforeSeq);
    const rows = await select.orderBy('seq', 'desc').limit(query.limit).execute();
    return rows.map(toEntry);
  }
}
