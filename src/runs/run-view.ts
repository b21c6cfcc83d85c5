// The JSON shapes a client sees of a run (SPEC §2), as zod schemas (OpenAPI and MCP publish them) with the functions that make them.
import { z } from 'zod';
import { RUN_STATUSES, isTerminal } from '../run-status.ts';
import type { RunRecord } from '../store/run-store.ts';

const runErrorSchema = z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }).nullable();

/** One destination's traffic through the egress proxy (SPEC §11). */
const egressUsageSchema = z.object({
  host: z.string(),
  port: z.number().int(),
  bytes_out: z.number().int(),
  bytes_in: z.number().int(),
});

/** One file the run left under /outputs (SPEC §12), served at GET /v1/runs/{run_id}/artifacts/{path}. */
export const artifactSchema = z.object({
  path: z.string(),
  size: z.number().int(),
  sha256: z.string(),
  content_type: z.string(),
});

const runUsageSchema = z.object({
  cpu_seconds: z.number().nullable(),
  peak_memory_bytes: z.number().int().nullable(),
  wall_seconds: z.number(),
  output_bytes: z.number().int(),
});

/** A run as it is now (every terminal field present); `usage` is the engine's accounting once terminal, null before. */
export const runResultSchema = z.object({
  run_id: z.string(),
  run_number: z.number().int(),
  project: z.string(),
  scope: z.enum(['project', 'model']),
  model_name: z.string().nullable(),
  branch: z.string().nullable(),
  commit_sha: z.string(),
  status: z.enum(RUN_STATUSES),
  exit_code: z.number().int().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  stdout_truncated: z.boolean(),
  stderr_truncated: z.boolean(),
  outputs: z.record(z.string(), z.unknown()),
  duration_seconds: z.number(),
  data_snapshot_ref: z.string().nullable(),
  error: runErrorSchema,
  warning: z.string().nullable(),
  /** While pending: what the run waits for beyond its turn (its environment being built); else null. */
  message: z.string().nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  usage: runUsageSchema.nullable(),
  /** What the run's connections through the egress proxy moved, per destination; empty for a run without grants (SPEC §11). */
  egress: z.array(egressUsageSchema),
  /** The engine's ID (sha256:...) of the image the run started on, one of data_snapshot_ref's inputs; null until it starts. */
  image_id: z.string().nullable(),
  /** The run this one replays (POST /v1/runs/{id}/replay); null for a run that is not a replay (SPEC §12). */
  replay_of: z.string().nullable(),
  /** For a replay once it ended: whether its outputs equal its original's (canonical JSON); null otherwise (SPEC §12). */
  outputs_match: z.boolean().nullable(),
  /** Every regular file the run left under /outputs, sorted by path; empty while it runs, when none, or once purged (SPEC §12). */
  artifacts: z.array(artifactSchema),
});
export type RunResultView = z.infer<typeof runResultSchema>;
export type RunUsageView = z.infer<typeof runUsageSchema>;

/** The receipt of a queued run. */
export const asyncRunSchema = z.object({
  run_id: z.string(),
  run_number: z.number().int(),
  status: z.literal('pending'),
  project_name: z.string(),
  model_name: z.string().nullable(),
  commit_sha: z.string(),
  message: z.string(),
  warning: z.string().nullable(),
});
export type AsyncRunView = z.infer<typeof asyncRunSchema>;

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
    message: run.status === 'pending' ? run.statusMessage : null,
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
    egress: run.egress.map(({ host, port, bytes_out, bytes_in }) => ({ host, port, bytes_out, bytes_in })),
    image_id: run.imageId,
    replay_of: run.replayOf,
    outputs_match: isTerminal(run.status) ? run.outputsMatch : null,
    artifacts: run.artifacts.map(({ path, size, sha256, contentType }) => ({ path, size, sha256, content_type: contentType })),
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
