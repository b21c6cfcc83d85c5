// Resource usage of a tenant's finished runs, summed per UTC day (the day a run finished).
import { sql } from 'kysely';
import type { Db } from './database.ts';

export interface DailyUsage {
  /** YYYY-MM-DD (UTC). */
  date: string;
  runs: number;
  cpuSeconds: number;
  /** The largest peak of any one run that day. */
  peakMemoryBytes: number;
  wallSeconds: number;
  outputBytes: number;
}

export class UsageStore {
  constructor(private readonly db: Db) {}

  /** Days with finished runs in [from, to) (ISO 8601 instants). */
  async daily(tenantId: string, from: string, to: string): Promise<DailyUsage[]> {
    const date = sql<string>`substr(finished_at, 1, 10)`;
    const rows = await this.db
      .selectFrom('runs')
      .select((eb) => [
        date.as('date'),
        eb.fn.countAll<number>().as('runs'),
        eb.fn.sum<number | null>('cpu_seconds').as('cpu_seconds'),
        eb.fn.max<number | null>('peak_memory_bytes').as('peak_memory_bytes'),
        eb.fn.sum<number | null>('duration_seconds').as('wall_seconds'),
        eb.fn.sum<number | null>('output_bytes').as('output_bytes'),
      ])
      .where('tenant_id', '=', tenantId)
      .where('finished_at', '>=', from)
      .where('finished_at', '<', to)
      .groupBy(date)
      .orderBy(date)
      .execute();
    return rows.map((row) => ({
      date: row.date,
      runs: row.runs,
      cpuSeconds: row.cpu_seconds ?? 0,
      peakMemoryBytes: row.peak_memory_bytes ?? 0,
      wallSeconds: row.wall_seconds ?? 0,
      outputBytes: row.output_bytes ?? 0,
    }));
  }
}
