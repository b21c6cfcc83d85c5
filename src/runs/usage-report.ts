// GET /v1/usage's answer: a tenant's run usage per UTC day over a date range, with the daily CPU quota it counts against.
import { z } from 'zod';
import { SandrunError, invalidRequest } from '../errors.ts';
import type { UsageStore } from '../store/usage-store.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_DAYS = 366;

const date = (field: string) =>
  z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, { error: `${field} must be a date YYYY-MM-DD (UTC)` })
    .refine((value) => !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value), {
      error: `${field} is not a calendar date`,
    });

export const usageQuerySchema = z.strictObject(
  { from: date('from').optional(), to: date('to').optional() },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown query parameter(s) ${issue.keys.join(', ')}; the parameters are from, to` : undefined) },
);

export interface UsageDayView {
  date: string;
  runs: number;
  cpu_seconds: number;
  peak_memory_bytes: number;
  wall_seconds: number;
  output_bytes: number;
}

export interface UsageReportView {
  from: string;
  to: string;
  days: UsageDayView[];
  total: Omit<UsageDayView, 'date' | 'peak_memory_bytes'>;
  daily_cpu_seconds_quota: number | null;
}

export class UsageReport {
  constructor(
    private readonly store: UsageStore,
    private readonly dailyCpuQuota: number | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Every day of [from, to] (both inclusive; default: today, UTC), zeros on days without runs. */
  async daily(tenantId: string, query: unknown): Promise<UsageReportView> {
    const parsed = usageQuerySchema.safeParse(query);
    if (!parsed.success) throw invalidRequest(parsed.error.issues);
    const today = this.now().toISOString().slice(0, 10);
    const to = parsed.data.to ?? parsed.data.from ?? today;
    const from = parsed.data.from ?? to;
    const start = Date.parse(`${from}T00:00:00Z`);
    const end = Date.parse(`${to}T00:00:00Z`) + DAY_MS;
    if (end <= start) throw new SandrunError('invalid_request', `from (${from}) must not be after to (${to})`);
    if ((end - start) / DAY_MS > MAX_DAYS) throw new SandrunError('invalid_request', `the range may span at most ${MAX_DAYS} days`);
    const byDate = new Map((await this.store.daily(tenantId, new Date(start).toISOString(), new Date(end).toISOString())).map((day) => [day.date, day]));
    const days: UsageDayView[] = [];
    for (let at = start; at < end; at += DAY_MS) {
      const key = new Date(at).toISOString().slice(0, 10);
      const day = byDate.get(key);
      days.push({
        date: key,
        runs: day?.runs ?? 0,
        cpu_seconds: day?.cpuSeconds ?? 0,
        peak_memory_bytes: day?.peakMemoryBytes ?? 0,
        wall_seconds: day?.wallSeconds ?? 0,
        output_bytes: day?.outputBytes ?? 0,
      });
    }
    const total = days.reduce(
      (sum, day) => ({ runs: sum.runs + day.runs, cpu_seconds: sum.cpu_seconds + day.cpu_seconds, wall_seconds: sum.wall_seconds + day.wall_seconds, output_bytes: sum.output_bytes + day.output_bytes }),
      { runs: 0, cpu_seconds: 0, wall_seconds: 0, output_bytes: 0 },
    );
    return { from, to, days, total, daily_cpu_seconds_quota: this.dailyCpuQuota ?? null };
  }
}
