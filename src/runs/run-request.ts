// The run request (SPEC §1): one schema for REST bodies, MCP arguments and the CLI, with messages that name the field.
import { z } from 'zod';
import { SandrunError, invalidRequest } from '../errors.ts';
import { nestsDeeperThan } from '../json-depth.ts';

export const MAX_PARAMETERS_BYTES = 1024 * 1024;

/** The fields of the seed's `run` tool, as a raw shape (MCP lists it as the tool's input schema). */
export const runRequestShape = {
  scope: z.enum(['project', 'model'], { error: "scope must be 'project' or 'model'" }),
  mode: z.enum(['sync', 'async'], { error: "mode must be 'sync' or 'async'" }),
  project_name: z.string({ error: 'project_name is required and must be a string' }).min(1, { error: 'project_name must not be empty' }),
  model_name: z.string({ error: 'model_name must be a string or null' }).min(1, { error: 'model_name must not be empty' }).nullable().optional(),
  branch: z.string({ error: 'branch must be a string or null' }).min(1, { error: 'branch must not be empty' }).nullable().optional(),
  commit_sha: z
    .string({ error: 'commit_sha must be a string or null' })
    .regex(/^[0-9a-fA-F]{7,40}$/, { error: 'commit_sha must be 7 to 40 hexadecimal characters' })
    .nullable()
    .optional(),
  parameters: z
    .record(z.string(), z.unknown(), { error: 'parameters must be a JSON object or null' })
    .nullable()
    .optional(),
};

type RunRequestShape = typeof runRequestShape;

/** The request schema over a shape that holds the seed's fields (and, for the MCP tool, idempotency_key): strict, with the scope/model_name rule. */
export function strictRunSchema<Shape extends RunRequestShape>(shape: Shape) {
  const allowedFields = Object.keys(shape).join(', ');
  return z
    .strictObject(shape, {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `'${key}'`).join(', ')}; the fields are ${allowedFields}`
          : 'the run request must be a JSON object',
    })
    .superRefine((parsed, context) => {
      // Shape extends the seed's fields, so these two are there; the generic output type cannot say so.
      const request = parsed as { scope: 'project' | 'model'; model_name?: string | null };
      if (request.scope === 'model' && (request.model_name === undefined || request.model_name === null)) {
        context.addIssue({ code: 'custom', path: ['model_name'], message: "model_name is required when scope='model'" });
      }
      if (request.scope === 'project' && request.model_name !== undefined && request.model_name !== null) {
        context.addIssue({ code: 'custom', path: ['model_name'], message: "model_name must be absent or null when scope='project'" });
      }
    });
}

export const runRequestSchema = strictRunSchema(runRequestShape);

export type RunRequest = z.infer<typeof runRequestSchema>;

export interface RunRequestLimits {
  /** How deep `parameters` may nest (SANDRUN_PARAMETERS_MAX_DEPTH): `{}` is one level, `{"a": {}}` two. */
  parametersMaxDepth: number;
}

/** Validates a run request; 400 naming the field and rule, 413 for parameters over 1 MiB of JSON. */
export function parseRunRequest(input: unknown, limits: RunRequestLimits): RunRequest {
  const parsed = runRequestSchema.safeParse(input);
  if (!parsed.success) throw invalidRequest(parsed.error.issues);
  // Before anything walks the parameters recursively (JSON.stringify overflows its stack some thousands deep).
  if (nestsDeeperThan(parsed.data.parameters, limits.parametersMaxDepth)) {
    const message = `nested more than ${limits.parametersMaxDepth} levels deep; the limit is ${limits.parametersMaxDepth} levels (SANDRUN_PARAMETERS_MAX_DEPTH)`;
    throw new SandrunError('invalid_request', `parameters: ${message}`, { issues: [{ path: 'parameters', message }] });
  }
  const parametersBytes = Buffer.byteLength(JSON.stringify(parsed.data.parameters ?? {}));
  if (parametersBytes > MAX_PARAMETERS_BYTES) {
    throw new SandrunError('payload_too_large', `parameters is ${parametersBytes} bytes of JSON; the limit is ${MAX_PARAMETERS_BYTES} bytes (1 MiB)`);
  }
  return parsed.data;
}
