// The audit log's rows: appended, never updated or deleted (triggers refuse both), read newest first.
import type { Db } from './database.ts';

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

interface AuditRow {
  seq: number;
  at: string;
  tenant_id: string | null;
  credential_id: string | null;
  action: string;
  target: string | null;
  status: number;
  outcome: AuditEntry['outcome'];
  error_code: string | null;
  source_address: string | null;
  request_id: string | null;
}

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
  private readonly insertStatement;

  constructor(private readonly db: Db) {
    this.insertStatement = db.prepare(`INSERT INTO audit_log (at, tenant_id, credential_id, action, target, status, outcome, error_code, source_address, request_id)
      VALUES (@at, @tenantId, @credentialId, @action, @target, @status, @outcome, @errorCode, @sourceAddress, @requestId)`);
  }

  append(entry: NewAuditEntry): void {
    this.insertStatement.run(entry);
  }

  list(query: AuditQuery): AuditEntry[] {
    const where: string[] = [];
    if (query.tenantId !== undefined) where.push('tenant_id = @tenantId');
    if (query.beforeSeq !== undefined) where.push('seq < @beforeSeq');
    const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`;
    return this.db
      .prepare<Record<string, unknown>, AuditRow>(sql)
      .all({ tenantId: query.tenantId, beforeSeq: query.beforeSeq, limit: query.limit })
      .map(toEntry);
  }
}
