// The response schemas of the REST JSON of SPEC §2/§5: MCP's tool output schemas and OpenAPI's responses both read them here.
import { z } from 'zod';
import { projectViewSchema } from '../projects/project-view.ts';
import { asyncRunSchema, runResultSchema } from '../runs/run-view.ts';
import { RUN_STATUSES } from '../run-status.ts';

/** runResultView: a run as it is now (every terminal field present). */
export const runResultShape = runResultSchema.shape;

/** asyncRunView: the receipt of a queued run. */
const asyncRunShape = asyncRunSchema.shape;

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
    // The receipt's message (how to poll) or, in a result, what a pending run waits for (null otherwise).
    message: z.string().nullable().optional(),
  });

export const runListShape = {
  runs: z.array(z.object(runResultShape)),
  next_cursor: z.string().nullable(),
};

const projectShape = projectViewSchema.shape;

export const projectListShape = { projects: z.array(z.object(projectShape)) };

export const modelListShape = {
  project_name: z.string(),
  models: z.array(z.string()),
  commit_sha: z.string(),
};

