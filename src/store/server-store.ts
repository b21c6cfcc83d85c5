// PostgreSQL: the servers of one service and their heartbeats (membership.ts); every time is the database's clock.
import { sql } from 'kysely';
import type { Db } from './database.ts';
import { unfinished } from './unfinished.ts';

/** A dead or stopped server's row is kept this long (its instance's leftovers are swept meanwhile), then deleted. */
const FORGET_AFTER = sql`interval '7 days'`;
/** Instances whose last server died longer ago than this are not swept any more (nothing of theirs is left by then). */
const SWEEP_WITHIN = sql`interval '1 day'`;

const deadBefore = (deadSeconds: number) => sql<Date>`now() - make_interval(secs => ${deadSeconds})`;

export class ServerStore {
  constructor(private readonly db: Db) {}

  /**
   * Records this start as alive. The instance's earlier starts are over (a data directory serves one process): they are
   * marked stopped, so that this start takes their unfinished runs at once rather than after their heartbeats age.
   */
  async join(id: string, instanceId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('servers').set({ stopped_at: sql`now()` }).where('instance_id', '=', instanceId).where('stopped_at', 'is', null).execute();
      await trx
        .insertInto('servers')
        .values({ id, instance_id: instanceId, started_at: sql`now()`, heartbeat_at: sql`now()`, stopped_at: null })
        .execute();
      await trx
        .deleteFrom('servers')
        .where('heartbeat_at', '<', sql<Date>`now() - ${FORGET_AFTER}`)
        .where((eb) => eb.not(eb.exists(eb.selectFrom('runs').select('runs.id').whereRef('runs.server_id', '=', 'servers.id').where(unfinished('runs.status')))))
        .execute();
    });
  }

  /** Renews this server's heartbeat; false when its row is gone or marked stopped (it must not carry on as a member). */
  async heartbeat(id: string): Promise<boolean> {
    const result = await this.db.updateTable('servers').set({ heartbeat_at: sql`now()` }).where('id', '=', id).where('stopped_at', 'is', null).executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  /** A clean stop: the server's unfinished runs may be taken at once. */
  async stop(id: string): Promise<void> {
    await this.db.updateTable('servers').set({ stopped_at: sql`now()` }).where('id', '=', id).execute();
  }

  /** Servers stopped, or silent for `deadSeconds` and more (this one excepted); `deadSeconds` null: stopped ones only. */
  async deadServers(selfId: string, deadSeconds: number | null): Promise<string[]> {
    const rows = await this.db
      .selectFrom('servers')
      .select('id')
      .where('id', '<>', selfId)
      .where((eb) => (deadSeconds === null ? eb('stopped_at', 'is not', null) : eb.or([eb('stopped_at', 'is not', null), eb('heartbeat_at', '<', deadBefore(deadSeconds))])))
      .execute();
    return rows.map((row) => row.id);
  }

  /** Engine instances none of whose servers is alive, and whose last one died recently: their leftovers may be swept. */
  async deadInstances(selfInstanceId: string, deadSeconds: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('servers')
      .select('instance_id')
      .where('instance_id', '<>', selfInstanceId)
      .groupBy('instance_id')
      .having(sql<boolean>`bool_and(stopped_at IS NOT NULL OR heartbeat_at < ${deadBefore(deadSeconds)})`)
      .having(sql<boolean>`max(heartbeat_at) > now() - ${SWEEP_WITHIN}`)
      .execute();
    return rows.map((row) => row.instance_id);
  }
}
