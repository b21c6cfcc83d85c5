// The MCP tools over runs: run (the seed's tool), get_run, list_runs, cancel_run. Each calls RunService; none validates or runs on its own.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { idempotencyKeySchema } from '../../runs/idempotency.ts';
import { runRequestShape, strictRunSchema } from '../../runs/run-request.ts';
import { asyncRunView, runResultView } from '../../runs/run-view.ts';
import { RUN_STATUSES } from '../../run-status.ts';
import { runListShape, runOutputSchema, runResultShape } from '../response-schemas.ts';
import { RUN_TOOL_DESCRIPTION } from './run-tool-description.ts';
import { guarded, type ToolContext } from './tool-context.ts';
import { queuedRunResult, runResult, structuredResult } from './tool-results.ts';

const DEFAULT_LIST_LIMIT = 50;

/**
 * The seed's arguments plus one optional field: agents retry on timeouts, and a retry with the same key gets the
 * first run back instead of starting another (the REST API takes the key as the Idempotency-Key header).
 */
const runToolInputSchema = strictRunSchema({
  ...runRequestShape,
  idempotency_key: idempotencyKeySchema
    .describe('Optional. Send the same key when retrying a run call (e.g. after a timeout): within 24 h it returns the run the first call started instead of starting another.')
    .optional(),
});

const runIdShape = { run_id: z.string({ error: 'run_id is required and must be a string' }).min(1, { error: 'run_id must not be empty' }) };

const listRunsShape = {
  project_name: z.string({ error: 'project_name must be a string' }).min(1, { error: 'project_name must not be empty' }).optional(),
  status: z.enum(RUN_STATUSES, { error: `status must be one of ${RUN_STATUSES.join(', ')}` }).optional(),
  limit: z.number({ error: 'limit must be a number' }).int({ error: 'limit must be an integer' }).min(1, { error: 'limit must be at least 1' }).max(200, { error: 'limit must be at most 200' }).optional(),
  cursor: z.string({ error: 'cursor must be a string' }).min(1, { error: 'cursor must not be empty' }).optional(),
};

export function registerRunTools(server: McpServer, context: ToolContext): void {
  server.registerTool(
    'run',
    {
      title: 'Run a project or model',
      description: RUN_TOOL_DESCRIPTION,
      // The REST body's own schema (built from runRequestShape: the seed's fields, types and requiredness), strict
      // and with its scope/model_name rule, so an MCP call is validated exactly like POST /v1/runs.
      inputSchema: runToolInputSchema,
      outputSchema: runOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    ({ idempotency_key: idempotencyKey, ...request }, call) =>
      guarded(context, call, 'run', 'runs:write', async () => {
        const submitted = await context.runService.submit(context.principal.tenantId, request, { idempotencyKey });
        return submitted.mode === 'async' ? queuedRunResult(asyncRunView(submitted.run)) : runResult(runResultView(submitted.run));
      }),
  );

  server.registerTool(
    'get_run',
    {
      title: 'Get a run',
      description:
        "The run with this run_id as it is now: status (pending, running, success, failed, timed_out, cancelled, error), exit_code, stdout, stderr, outputs, duration_seconds, error, and artifacts (every file the run wrote under /outputs: path, size, sha256, content_type; read one as the resource sandrun://runs/{run_id}/artifacts/{path}). Poll it after run(mode='async') until status is terminal. A run that ended other than success comes back as an error result that still carries the whole run.",
      inputSchema: z.strictObject(runIdShape),
      outputSchema: z.object(runResultShape),
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    ({ run_id: runId }, call) => guarded(context, call, 'get_run', 'runs:read', async () => runResult(runResultView(await context.runService.get(context.principal.tenantId, runId)))),
  );

  server.registerTool(
    'list_runs',
    {
      title: 'List runs',
      description: `This tenant's runs, newest first, optionally only those of one project_name or with one status. At most limit runs (1 to 200, default ${DEFAULT_LIST_LIMIT}); when next_cursor is not null, pass it as cursor for the next page.`,
      inputSchema: z.strictObject(listRunsShape),
      outputSchema: z.object(runListShape),
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    ({ project_name: projectName, status, limit = DEFAULT_LIST_LIMIT, cursor }, call) =>
      guarded(context, call, 'list_runs', 'runs:read', async () => {
        const page = await context.runService.list(context.principal.tenantId, { projectName, status, limit, cursor });
        const more = page.nextCursor ? ` More: call list_runs again with cursor '${page.nextCursor}'.` : '';
        return structuredResult(`${page.runs.length} run(s).${more}`, { runs: page.runs.map(runResultView), next_cursor: page.nextCursor });
      }),
  );

  server.registerTool(
    'cancel_run',
    {
      title: 'Cancel a run',
      description: 'Cancels a pending or running run and returns it in its final state (status cancelled, or the state it reached first). A run that has already finished cannot be cancelled.',
      inputSchema: z.strictObject(runIdShape),
      outputSchema: z.object(runResultShape),
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    ({ run_id: runId }, call) =>
      guarded(context, call, 'cancel_run', 'runs:write', async () => {
        const view = runResultView(await context.runService.cancel(context.principal.tenantId, runId));
        return structuredResult(`Run #${view.run_number} (${view.run_id}) of ${view.project} is ${view.status}.`, view);
      }),
  );
}
