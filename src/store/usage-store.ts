// Resource usage of a tenant's finished runs, summed per UTC day (the day a run finished).
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

interface DailyRow {
  date: string;
  runs: number;
  cpu_seconds: number | null;
  peak_memory_bytes: number | null;
  wall_seconds: number | null;
  output_bytes: number | null;
}

export class UsageStore {
  private readonly dailyStatement;

  constructor(db: Db) {
    this.dailyStatement = db.prepare<[string, string, string], DailyRow>(`SELECT substr(finished_at, 1, 10) AS date, COUNT(*) AS runs,
      SUM(cpu_seconds) AS cpu_seconds, MAX(peak_memory_bytes) AS peak_memory_bytes, SUM(duration_seconds) AS wall_seconds,
      SUM(output_bytes) AS output_bytes
      FROM runs WHERE tenant_id = ? AND finished_at >= ? AND finished_at < ? GROUP BY date ORDER BY date`);
  }

  /** Days with finished runs in [from, to) (ISO 8601 instants). */
  daily(tenantId: string, from: string, to: string): DailyUsage[] {
    return this.dailyStatement.all(tenantId, from, to).map((row) => ({
      date: row.date,
      runs: row.runs,
      cpuSeconds: row.cpu_seconds ?? 0,
      peakMemoryBytes: row.peak_memory_bytes ?? 0,
      wallSeconds: row.wall_seconds ?? 0,
      outputBytes: row.output_bytes ?? 0,
    }));
  }
}
