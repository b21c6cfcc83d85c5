// Per-tenant quotas on what runs use: CPU seconds per UTC day, from the engine's accounting of finished runs.
import { SandrunError } from '../errors.ts';
import type { RunStore } from '../store/run-store.ts';

export function utcDayBounds(at: Date): { from: string; to: string } {
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  return { from: start.toISOString(), to: new Date(start.getTime() + 24 * 60 * 60 * 1000).toISOString() };
}

/** 429 quota_exceeded once the tenant's runs finished today have used the day's CPU seconds; no limit when undefined. */
export async function assertWithinDailyCpu(runs: RunStore, tenantId: string, limit: number | undefined, now: Date): Promise<void> {
  if (limit === undefined) return;
  const { from, to } = utcDayBounds(now);
  const used = await runs.cpuSecondsBetween(tenantId, from, to);
  if (used < limit) return;
  throw new SandrunError(
    'quota_exceeded',
    `this tenant's runs have used ${used.toFixed(1)} of its ${limit} CPU seconds for today (UTC); new runs are refused until ${to}`,
    { cpu_seconds_used: used, cpu_seconds_limit: limit, resets_at: to },
  );
}
