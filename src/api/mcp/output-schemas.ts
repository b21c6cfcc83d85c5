// The MCP tools' output schemas: the REST JSON of SPEC §2/§5, checked at compile time against the views that produce it.
import { z } from 'zod';
import type { ProjectView } from '../../projects/project-service.ts';
import type { AsyncRunView, RunResultView } from '../../runs/run-view.ts';
import { RUN_STATUSES } from '../../store/run-store.ts';

const runErrorSchema = z.object({ code: z.string(), message: z.string() }).nullable();

/** runResultView: a run as it is now (every terminal field present). */
export const runResultShape = {
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
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  usage: z
    .object({ cpu_seconds: z.number().nullable(), peak_memory_bytes: z.number().int().nullable(), wall_seconds: z.number(), output_bytes: z.number().int() })
    .nullable(),
};

/** asyncRunView: the receipt of a queued run. */
const asyncRunShape = {
  run_id: z.string(),
  run_number: z.number().int(),
  status: z.literal('pending'),
  project_name: z.string(),
  model_name: z.string().nullable(),
  commit_sha: z.string(),
  message: z.string(),
  warning: z.string().nullable(),
};

/**
 * `run` answers with either shape (sync: the terminal result; async: the receipt), and the SDK validates
 * structuredContent against one object schema, so this is their union: the fields both carry are required,
 * the rest optional. `status` is the terminal status or 'pending'.
 */
export const runOutputSchema = z
  .object(runResultShape)
  .partial()
  .extend(z.object(asyncRunShape).partial().shape)
  .extend({
    run_id: z.string(),
    run_number: z.number().int(),
    status: z.enum(RUN_STATUSES),
    model_name: z.string().nullable(),
    commit_sha: z.string(),
    warning: z.string().nullable(),
  });

export const runListShape = {
  runs: z.array(z.object(runResultShape)),
  next_cursor: z.string().nullable(),
};

const projectShape = {
  name: z.string(),
  repo_url: z.string(),
  default_branch: z.string(),
  created_at: z.string(),
  refreshed_at: z.string(),
  credential: z.object({ type: z.enum(['https_token', 'ssh_key']) }).nullable(),
};

export const projectListShape = { projects: z.array(z.object(projectShape)) };

export const modelListShape = {
  project_name: z.string(),
  models: z.array(z.string()),
  commit_sha: z.string(),
};

// The views are hand-written interfaces; these fail to compile when a schema and its view drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const assertSame = <T extends true>(): T | undefined => undefined;
assertSame<Same<z.infer<z.ZodObject<typeof runResultShape>>, RunResultView>>();
assertSame<Same<z.infer<z.ZodObject<typeof asyncRunShape>>, AsyncRunView>>();
assertSame<Same<z.infer<z.ZodObject<typeof projectShape>>, ProjectView>>();
