// A tenant's webhooks and their delivery queue (SPEC §12) as the database holds them: secrets sealed, bodies as sent.
import type { Db } from './database.ts';

export interface WebhookRecord {
  id: string;
  tenantId: string;
  url: string;
  events: string[];
  secretSealed: string;
  createdAt: string;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface DeliveryRecord {
  id: string;
  webhookId: string;
  tenantId: string;
  event: string;
  runId: string;
  status: DeliveryStatus;
  attempts: number;
  createdAt: string;
  firstAttemptAt: string | null;
  nextAttemptAt: string | null;
  finishedAt: string | null;
}

/** A delivery the worker has claimed, with what it sends. */
export interface DueDelivery extends DeliveryRecord {
  body: string;
  url: string;
  secretSealed: string;
}

export interface AttemptRecord {
  deliveryId: string;
  attempt: number;
  at: string;
  statusCode: number | null;
  error: string | null;
}

interface WebhookRow {
  id: string;
  tenant_id: string;
  url: string;
  events: string;
  secret_sealed: string;
  created_at: string;
}

interface DeliveryRow {
  id: string;
  webhook_id: string;
  tenant_id: string;
  event: string;
  run_id: string;
  status: DeliveryStatus;
  attempts: number;
  created_at: string;
  first_attempt_at: string | null;
  next_attempt_at: string | null;
  finished_at: string | null;
}

const DELIVERY_COLUMNS = 'd.id, d.webhook_id, d.tenant_id, d.event, d.run_id, d.status, d.attempts, d.created_at, d.first_attempt_at, d.next_attempt_at, d.finished_at';

const webhookOf = (row: WebhookRow): WebhookRecord => ({
  id: row.id,
  tenantId: row.tenant_id,
  url: row.url,
  events: JSON.parse(row.events) as string[],
  secretSealed: row.secret_sealed,
  createdAt: row.created_at,
});

const deliveryOf = (row: DeliveryRow): DeliveryRecord => ({
  id: row.id,
  webhookId: row.webhook_id,
  tenantId: row.tenant_id,
  event: row.event,
  runId: row.run_id,
  status: row.status,
  attempts: row.attempts,
  createdAt: row.created_at,
  firstAttemptAt: row.first_attempt_at,
  nextAttemptAt: row.next_attempt_at,
  finishedAt: row.finished_at,
});

export class WebhookStore {
  private readonly statements;

  constructor(private readonly db: Db) {
    this.statements = {
      insert: db.prepare('INSERT INTO webhooks (id, tenant_id, url, events, secret_sealed, created_at) VALUES (@id, @tenantId, @url, @events, @secretSealed, @createdAt)'),
      count: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM webhooks WHERE tenant_id = ?'),
      list: db.prepare<[string], WebhookRow>('SELECT * FROM webhooks WHERE tenant_id = ? ORDER BY created_at, id'),
      get: db.prepare<[string, string], WebhookRow>('SELECT * FROM webhooks WHERE tenant_id = ? AND id = ?'),
      all: db.prepare<[], WebhookRow>('SELECT * FROM webhooks'),
      remove: db.prepare<[string, string]>('DELETE FROM webhooks WHERE tenant_id = ? AND id = ?'),
      reseal: db.prepare<[string, string]>('UPDATE webhooks SET secret_sealed = ? WHERE id = ?'),
      enqueue: db.prepare(`INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event, run_id, body, status, created_at, next_attempt_at)
        VALUES (@id, @webhookId, @tenantId, @event, @runId, @body, 'pending', @at, @at)`),
      deliveries: db.prepare<[string, string, number], DeliveryRow>(
        `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.tenant_id = ? AND d.webhook_id = ? ORDER BY d.seq DESC LIMIT ?`,
      ),
      attempts: db.prepare<[string], AttemptRow>('SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt'),
      due: db.prepare<[string, number], DeliveryRow & { body: string; url: string; secret_sealed: string }>(
        `SELECT ${DELIVERY_COLUMNS}, d.body, w.url, w.secret_sealed FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at, d.seq LIMIT ?`,
      ),
      nextDue: db.prepare<[], { at: string | null }>("SELECT MIN(next_attempt_at) AS at FROM webhook_deliveries WHERE status = 'pending'"),
      claim: db.prepare<[string, string, string]>("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending' AND next_attempt_at = ?"),
      release: db.prepare<[string, string]>("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending'"),
      record: db.prepare('INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error) VALUES (@deliveryId, @attempt, @at, @statusCode, @error)'),
      settle: db.prepare(`UPDATE webhook_deliveries SET attempts = @attempt, first_attempt_at = COALESCE(first_attempt_at, @at), status = @status,
        next_attempt_at = @nextAttemptAt, finished_at = @finishedAt, body = CASE WHEN @status = 'pending' THEN body ELSE '' END
        WHERE id = @deliveryId AND status = 'pending'`),
      prune: db.prepare<[string]>("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND finished_at < ?"),
    };
  }

  insert(webhook: WebhookRecord): void {
    this.statements.insert.run({ ...webhook, events: JSON.stringify(webhook.events) });
  }

  count(tenantId: string): number {
    return this.statements.count.get(tenantId)!.n;
  }

  list(tenantId: string): WebhookRecord[] {
    return this.statements.list.all(tenantId).map(webhookOf);
  }

  get(tenantId: string, id: string): WebhookRecord | undefined {
    const row = this.statements.get.get(tenantId, id);
    return row && webhookOf(row);
  }

  /** Every tenant's webhooks (the secrets key's rotation). */
  all(): WebhookRecord[] {
    return this.statements.all.all().map(webhookOf);
  }

  /** Removes a webhook with its deliveries; whether there was one. */
  remove(tenantId: string, id: string): boolean {
    return this.statements.remove.run(tenantId, id).changes > 0;
  }

  reseal(id: string, sealed: string): void {
    this.statements.reseal.run(sealed, id);
  }

  /** One pending delivery per webhook, due at once, in one transaction (all or none). */
  enqueue(deliveries: Array<{ id: string; webhookId: string; tenantId: string; event: string; runId: string; body: string; at: string }>): void {
    this.db.transaction(() => {
      for (const delivery of deliveries) this.statements.enqueue.run(delivery);
    })();
  }

  /** The webhook's deliveries, newest first, each with its attempts. */
  deliveries(tenantId: string, webhookId: string, limit: number): Array<DeliveryRecord & { attemptList: AttemptRecord[] }> {
    return this.statements.deliveries.all(tenantId, webhookId, limit).map((row) => ({
      ...deliveryOf(row),
      attemptList: this.statements.attempts.all(row.id).map(attemptOf),
    }));
  }

  /** Pending deliveries whose time has come, oldest due first. */
  due(now: string, limit: number): DueDelivery[] {
    return this.statements.due.all(now, limit).map((row) => ({ ...deliveryOf(row), body: row.body, url: row.url, secretSealed: row.secret_sealed }));
  }

  /** When the next pending delivery is due; null when none is pending. */
  nextDue(): string | null {
    return this.statements.nextDue.get()!.at;
  }

  /**
   * Takes a due delivery for one attempt by moving its due time to `leaseUntil` (compare-and-set on the time it was
   * read with): another worker on the same database does not take it too, and if this process dies during the
   * attempt, the delivery is due again once the lease has passed. Whether it was taken.
   */
  claim(id: string, seenDueAt: string, leaseUntil: string): boolean {
    return this.statements.claim.run(leaseUntil, id, seenDueAt).changes > 0;
  }

  /** Gives a claimed delivery back, due at `at` (a worker stopping before its attempt ended). */
  release(id: string, at: string): void {
    this.statements.release.run(at, id);
  }

  /**
   * Records one attempt and what follows: still pending (due at nextAttemptAt), delivered or failed (its body is no
   * longer needed and is dropped; the run itself keeps the result).
   */
  settle(outcome: AttemptRecord & { status: DeliveryStatus; nextAttemptAt: string | null }): void {
    this.db.transaction(() => {
      this.statements.record.run(outcome);
      this.statements.settle.run({ ...outcome, finishedAt: outcome.status === 'pending' ? null : outcome.at });
    })();
  }

  /** Removes deliveries that ended before `before`; how many. */
  prune(before: string): number {
    return this.statements.prune.run(before).changes;
  }
}

interface AttemptRow {
  delivery_id: string;
  attempt: number;
  at: string;
  status_code: number | null;
  error: string | null;
}

const attemptOf = (row: AttemptRow): AttemptRecord => ({ deliveryId: row.delivery_id, attempt: row.attempt, at: row.at, statusCode: row.status_code, error: row.error });
