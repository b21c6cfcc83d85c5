// The books after chaos: every run terminal and plausibly ended, numbers gapless, nothing left behind, database intact.
import type { ChaosModel } from './chaos-project.ts';

/** A run as the chaos batch reads it back from the database. */
export interface RunRow {
  id: string;
  tenant_id: string;
  project_id: string;
  run_number: number;
  model_name: ChaosModel;
  status: string;
  error_code: string | null;
  exit_code: number | null;
  stderr: string;
  stdout_truncated: number;
}

export interface Invariant {
  name: string;
  ok: boolean;
  detail: string;
}

/** Endings any run may have when the platform failed under it (killed server, engine gone). */
const PLATFORM_ENDINGS = new Set(['server_restarted', 'engine_unavailable']);

export function checkInvariants(input: {
  rows: RunRow[];
  accepted: Map<string, { model: ChaosModel }>;
  expected: Record<ChaosModel, { status: string; code: string | null }>;
  containers: string[];
  leftoverDirs: string[];
  checkoutTemps: string[];
  integrity: string;
}): Invariant[] {
  const { rows } = input;
  const ids = new Set(rows.map((row) => row.id));
  const missing = [...input.accepted.keys()].filter((id) => !ids.has(id));
  const open = rows.filter((row) => row.status === 'pending' || row.status === 'running');
  const implausible = rows.filter((row) => {
    if (row.status === 'error' && row.error_code !== null && PLATFORM_ENDINGS.has(row.error_code)) return false;
    const expected = input.expected[row.model_name];
    if (row.model_name === 'long') return !['cancelled', 'success'].includes(row.status); // a cancel may have hit a dead server
    if (row.model_name === 'flood' && row.status === 'success' && row.stdout_truncated !== 1) return true;
    return row.status !== expected.status || row.error_code !== expected.code;
  });
  const gaps: string[] = [];
  const byProject = new Map<string, number[]>();
  for (const row of rows) byProject.set(row.project_id, [...(byProject.get(row.project_id) ?? []), row.run_number]);
  for (const [project, numbers] of byProject) {
    const sorted = numbers.sort((a, b) => a - b);
    if (sorted.some((number, index) => number !== index + 1)) gaps.push(`${project}: ${sorted.join(',')}`);
  }
  const show = (list: RunRow[]) =>
    list
      .slice(0, 5)
      .map((row) => `${row.model_name}→${row.status}/${row.error_code ?? '-'} (exit ${row.exit_code ?? '-'}${row.stderr ? `, stderr ${JSON.stringify(row.stderr.slice(-200))}` : ''})`)
      .join('; ');
  return [
    { name: 'every accepted run is recorded', ok: missing.length === 0, detail: missing.length ? `missing: ${missing.join(', ')}` : `${input.accepted.size} accepted` },
    { name: 'every run is terminal', ok: open.length === 0, detail: open.length ? `not terminal: ${show(open)}` : `${rows.length} runs` },
    { name: 'each ending agrees with what the run did', ok: implausible.length === 0, detail: implausible.length ? show(implausible) : 'all plausible' },
    { name: 'run numbers are gapless per project', ok: gaps.length === 0, detail: gaps.length ? gaps.join(' | ') : `${byProject.size} projects` },
    { name: 'no container is left', ok: input.containers.length === 0, detail: input.containers.join(', ') || 'none' },
    { name: 'no run directory, temp dir or lock is left', ok: input.leftoverDirs.length === 0 && input.checkoutTemps.length === 0, detail: [...input.leftoverDirs, ...input.checkoutTemps].join(', ') || 'none' },
    { name: 'PRAGMA integrity_check is ok', ok: input.integrity === 'ok', detail: input.integrity },
  ];
}
