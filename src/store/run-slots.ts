// The service's run slots and queue places in the database (PostgreSQL, several servers): counted and claimed under one lock.
import { sql } from 'kysely';
import type { Db, DialectKind } from './database.ts';
import { unfinished } from './unfinished.ts';

/** Unfinished (pending or running) runs of the whole service and of one tenant, counted under the queue lock. */
export interface QueueCounts {
  unfinished: number;
  tenantUnfinished: number;
}

/** Called inside a run's insert, with the counts before it; throws (queue_full) to refuse the run. */
export type Admission = (counts: QueueCounts) => void;

/** Runs at once, for the whole service and per tenant. */
export interface SlotLimits {
  maxConcurrent: number;
  tenantMaxConcurrent: number;
}

/** `granted`: the run may start. Else which limit is reached (the service's, or its tenant's). */
export type SlotAnswer = 'granted' | 'service_full' | 'tenant_full';

/**
 * Taken by every admission and claim (transaction-scoped, so a dead connection lets go): they see each other's
 * counts, and concurrent submissions and starts on several servers cannot pass a limit together. Held for a few
 * statements; the two-int form keeps it apart from the single-bigint locks elsewhere.
 */
async function lockQueue(trx: Db, kind: DialectKind): Promise<void> {
  // SQLite: its one connection serialises every transaction already.
  if (kind === 'postgres') await sql`SELECT pg_advisory_xact_lock(hashtext('sandrun_run_slots'), 0)`.execute(trx);
}

/** The queue lock, then the counts an admission decides on; call inside the insert's transaction. */
export async function countQueue(trx: Db, kind: DialectKind, tenantId: string): Promise<QueueCounts> {
  await lockQueue(trx, kind);
  const row = await trx
    .selectFrom('runs')
    .select((eb) => [eb.fn.countAll<number>().as('unfinished'), eb.fn.countAll<number>().filterWhere('tenant_id', '=', tenantId).as('tenantUnfinished')])
    .where(unfinished())
    .executeTakeFirstOrThrow();
  return { unfinished: Number(row.unfinished), tenantUnfinished: Number(row.tenantUnfinished) };
}

/**
 * Run slots: a run holds one from its claim until it ends (slot_claimed_at set, status pending or running), so
 * nothing has to give a slot back: the run's end does, whichever server records it. A run that holds a slot already
 * (its server stopped before it started, and it is queued again) is granted it again without counting.
 */
export class RunSlotStore {
  constructor(
    private readonly db: Db,
    private readonly kind: DialectKind,
  ) {}

  claim(runId: string, tenantId: string, limits: SlotLimits, at: string): Promise<SlotAnswer> {
    return this.db.transaction().execute(async (trx) => {
      await lockQueue(trx, this.kind);
      const row = await trx
        .selectFrom('runs')
        .select((eb) => [
          eb.fn.countAll<number>().as('held'),
          eb.fn.countAll<number>().filterWhere('tenant_id', '=', tenantId).as('tenantHeld'),
          eb.fn.countAll<number>().filterWhere('id', '=', runId).as('own'),
        ])
        .where(unfinished())
        .where('slot_claimed_at', 'is not', null)
        .executeTakeFirstOrThrow();
      if (Number(row.own) > 0) return 'granted';
      if (Number(row.held) >= limits.maxConcurrent) return 'service_full';
      if (Number(row.tenantHeld) >= limits.tenantMaxConcurrent) return 'tenant_full';
      // A run no longer pending (ended meanwhile) takes no slot; its own path sees that it ended.
      await trx.updateTable('runs').set({ slot_claimed_at: at }).where('id', '=', runId).where('status', '=', 'pending').execute();
      return 'granted';
    });
  }

  /** Slots held now, in all and by the tenant (for tests and metrics). */
  async held(tenantId: string): Promise<{ held: number; tenantHeld: number }> {
    const row = await this.db
      .selectFrom('runs')
      .select((eb) => [eb.fn.countAll<number>().as('held'), eb.fn.countAll<number>().filterWhere('tenant_id', '=', tenantId).as('tenantHeld')])
      .where(unfinished())
      .where('slot_claimed_at', 'is not', null)
      .executeTakeFirstOrThrow();
    return { held: Number(row.held), tenantHeld: Number(row.tenantHeld) };
  }
}
