// A tenant's webhooks and their delivery queue (SPEC §12) as the database holds them: secrets sealed, bodies as sent.
import type { Selectable } from 'kysely';
import type { Db, DialectKind } from './database.ts';
import type { WebhookAttemptTable, WebhookDeliveryTable, WebhookTable } from './schema.ts';

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

type WebhookRow = Selectable<WebhookTable>;
type DeliveryRow = Omit<Selectable<WebhookDeliveryTable>, 'seq' | 'body'>;

const DELIVERY_COLUMNS = [
  'd.id',
  'd.webhook_id',
  'd.tenant_id',
  'd.event',
  'd.run_id',
  'd.status',
  'd.attempts',
  'd.created_at',
  'd.first_attempt_at',
  'd.next_attempt_at',
  'd.finished_at',
] as const;

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
  constructor(
    private readonly db: Db,
    private readonly kind: DialectKind,
  ) {}

  /**
   * Adds a webhook unless the tenant has `maxPerTenant` already (then `full` says how many). The count and the insert
   * are one transaction, serialised per tenant (SQLite: the one connection; PostgreSQL: the tenant's row locked), so
   * creations side by side, on one server or several, never pass the limit together.
   */
  insert(webhook: WebhookRecord, maxPerTenant: number): Promise<{ full: number } | { full?: undefined }> {
    return this.db.transaction().execute(async (trx) => {
      if (this.kind === 'postgres') await trx.selectFrom('tenants').select('id').where('id', '=', webhook.tenantId).forUpdate().execute();
      const count = await this.count(webhook.tenantId, trx);
      if (count >= maxPerTenant) return { full: count };
      await this.insertIn(trx, webhook);
      return {};
    });
  }

  private async insertIn(trx: Db, webhook: WebhookRecord): Promise<void> {
    await trx
      .insertInto('webhooks')
      .values({ id: webhook.id, tenant_id: webhook.tenantId, url: webhook.url, events: JSON.stringify(webhook.events), secret_sealed: webhook.secretSealed, created_at: webhook.createdAt })
      .execute();
  }

  async count(tenantId: string, trx: Db = this.db): Promise<number> {
    const row = await trx
      .selectFrom('webhooks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .executeTakeFirstOrThrow();
    return row.n;
  }

  async list(tenantId: string): Promise<WebhookRecord[]> {
    const rows = await this.db.selectFrom('webhooks').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('id').execute();
    return rows.map(webhookOf);
  }

  async get(tenantId: string, id: string): Promise<WebhookRecord | undefined> {
    const row = await this.db.selectFrom('webhooks').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    return row && webhookOf(row);
  }

  /** Every tenant's webhooks (the secrets key's rotation). */
  async all(): Promise<WebhookRecord[]> {
    const rows = await this.db.selectFrom('webhooks').selectAll().execute();
    return rows.map(webhookOf);
  }

  /** Removes a webhook with its deliveries; whether there was one. */
  async remove(tenantId: string, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('webhooks').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async reseal(id: string, sealed: string): Promise<void> {
    await this.db.updateTable('webhooks').set({ secret_sealed: sealed }).where('id', '=', id).execute();
  }

  /** One pending delivery per webhook, due at once, in one statement (all or none). */
  async enqueue(deliveries: Array<{ id: string; webhookId: string; tenantId: string; event: string; runId: string; body: string; at: string }>): Promise<void> {
    if (deliveries.length === 0) return;
    await this.db
      .insertInto('webhook_deliveries')
      .values(
        deliveries.map((delivery) => ({
          id: delivery.id,
          webhook_id: delivery.webhookId,
          tenant_id: delivery.tenantId,
          event: delivery.event,
          run_id: delivery.runId,
          body: delivery.body,
          status: 'pending' as const,
          created_at: delivery.at,
          next_attempt_at: delivery.at,
        })),
      )
      .execute();
  }

  /** The webhook's deliveries, newest first, each with its attempts. */
  async deliveries(tenantId: string, webhookId: string, limit: number): Promise<Array<DeliveryRecord & { attemptList: AttemptRecord[] }>> {
    const rows = await this.db
      .selectFrom('webhook_deliveries as d')
      .select(DELIVERY_COLUMNS)
      .where('d.tenant_id', '=', tenantId)
      .where('d.webhook_id', '=', webhookId)
      .orderBy('d.seq', 'desc')
      .limit(limit)
      .execute();
    return Promise.all(
      rows.map(async (row) => ({
        ...deliveryOf(row),
        attemptList: (await this.db.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', row.id).orderBy('attempt').execute()).map(attemptOf),
      })),
    );
  }

  /** Pending deliveries whose time has come, oldest due first. */
  async due(now: string, limit: number): Promise<DueDelivery[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
      .select([...DELIVERY_COLUMNS, 'd.body', 'w.url', 'w.secret_sealed'])
      .where('d.status', '=', 'pending')
      .where('d.next_attempt_at', '<=', now)
      .orderBy('d.next_attempt_at')
      .orderBy('d.seq')
      .limit(limit)
      .execute();
    return rows.map((row) => ({ ...deliveryOf(row), body: row.body, url: row.url, secretSealed: row.secret_sealed }));
  }

  /** When the next pending delivery is due; null when none is pending. */
  async nextDue(): Promise<string | null> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min<string | null>('next_attempt_at').as('at'))
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return row?.at ?? null;
  }

  /**
   * Takes a due delivery for one attempt by moving its due time to `leaseUntil` (compare-and-set on the time it was
   * read with): another worker on the same database does not take it too, and if this process dies during the
   * attempt, the delivery is due again once the lease has passed. Whether it was taken.
   */
  async claim(id: string, seenDueAt: string, leaseUntil: string): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: leaseUntil })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '=', seenDueAt)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Gives a claimed delivery back, due at `at` (a worker stopping before its attempt ended). */
  async release(id: string, at: string): Promise<void> {
    await this.db.updateTable('webhook_deliveries').set({ next_attempt_at: at }).where('id', '=', id).where('status', '=', 'pending').execute();
  }

  /**
   * Records one attempt and what follows: still pending (due at nextAttemptAt), delivered or failed (its body is no
   * longer needed and is dropped; the run itself keeps the result).
   */
  async settle(outcome: AttemptRecord & { status: DeliveryStatus; nextAttemptAt: string | null }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('webhook_attempts')
        .values({ delivery_id: outcome.deliveryId, attempt: outcome.attempt, at: outcome.at, status_code: outcome.statusCode, error: outcome.error })
        .execute();
      await trx
        .updateTable('webhook_deliveries')
        .set((eb) => ({
          attempts: outcome.attempt,
          first_attempt_at: eb.fn.coalesce('first_attempt_at', eb.val(outcome.at)),
          status: outcome.status,
          next_attempt_at: outcome.nextAttemptAt,
          finished_at: outcome.status === 'pending' ? null : outcome.at,
          ...(outcome.status === 'pending' ? {} : { body: '' }),
        }))
        .where('id', '=', outcome.deliveryId)
        .where('status', '=', 'pending')
        .execute();
    });
  }

  /** Removes deliveries that ended before `before`; how many. */
  async prune(before: string): Promise<number> {
    const result = await this.db.deleteFrom('webhook_deliveries').where('status', '<>', 'pending').where('finished_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

type AttemptRow = Selectable<WebhookAttemptTable>;

const attemptOf = (row: AttemptRow): AttemptRecord => ({ deliveryId: row.delivery_id, attempt: row.attempt, at: row.at, statusCode: row.status_code, error: row.error });
