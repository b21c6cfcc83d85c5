// The JSON shapes a client sees of a run (SPEC §2): the result (terminal or current) and the async receipt.
import { isTerminal } from '../run-status.ts';
import type { RunRecord } from '../store/run-store.ts';

export interface RunResultView {
  run_id: string;
  run_number: number;
  project: string;
  scope: 'project' | 'model';
  model_name: string | null;
  branch: string | null;
  commit_sha: string;
  status: RunRecord['status'];
  exit_code: number | null;
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  outputs: Record<string, unknown>;
  duration_seconds: number;
  data_snapshot_ref: string | null;
  error: { code: string; message: string } | null;
  warning: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** The engine's accounting once the run is terminal; null before. */
  usage: RunUsageView | null;
}

export interface RunUsageView {
  cpu_seconds: number | null;
  peak_memory_bytes: number | null;
  wall_seconds: number;
  output_bytes: number;
}

export interface AsyncRunView {
  run_id: string;
  run_number: number;
  status: 'pending';
  project_name: string;
  model_name: string | null;
  commit_sha: string;
  message: string;
  warning: string | null;
}

export function runResultView(run: RunRecord): RunResultView {
  return {
    run_id: run.id,
    run_number: run.runNumber,
    project: run.projectName,
    scope: run.scope,
    model_name: run.modelName,
    branch: run.branch,
    commit_sha: run.commitSha,
    status: run.status,
    exit_code: run.exitCode,
    stdout: run.stdout,
    stderr: run.stderr,
    stdout_truncated: run.stdoutTruncated,
    stderr_truncated: run.stderrTruncated,
    outputs: run.outputs,
    duration_seconds: run.durationSeconds ?? 0,
    data_snapshot_ref: run.dataSnapshotRef,
    error: run.error,
    warning: run.warning,
    created_at: run.createdAt,
    started_at: run.startedAt,
    finished_at: run.finishedAt,
    usage: isTerminal(run.status)
      ? {
          cpu_seconds: run.usage.cpuSeconds,
          peak_memory_bytes: run.usage.peakMemoryBytes,
          wall_seconds: run.durationSeconds ?? 0,
          output_bytes: run.usage.outputBytes ?? 0,
        }
      : null,
  };
}

export function asyncRunView(run: RunRecord): AsyncRunView {
  return {
    run_id: run.id,
    run_number: run.runNumber,
    status: 'pending',
    project_name: run.projectName,
    model_name: run.modelName,
    commit_sha: run.commitSha,
    message: `Run ${run.runNumber} of ${run.projectName} is queued. Poll GET /v1/runs/${run.id} (MCP: get_run with run_id '${run.id}') until status is terminal; follow its output live at GET /v1/runs/${run.id}/logs?follow=1.`,
    warning: run.warning,
  };
}
