// The OpenAPI 3.1 document of the REST API, generated from the zod schemas that validate requests and describe responses.
import { Router } from 'express';
import { z } from 'zod';
import { tokenCreateSchema } from '../auth/token-admin.ts';
import { projectCreateSchema } from '../projects/project-service.ts';
import { secretSetSchema } from '../projects/project-secrets.ts';
import { SECRET_KEY } from '../secrets/secret-rules.ts';
import { environmentViewSchema, projectDetailViewSchema, secretNameViewSchema } from '../projects/project-view.ts';
import { runRequestSchema } from '../runs/run-request.ts';
import { modelListShape, projectListShape, runListShape, runOutputSchema, runResultShape } from './response-schemas.ts';
import { listQuerySchema } from './routes/runs.ts';
import { deliveriesQuerySchema, webhookCreateSchema } from '../webhooks/webhook-service.ts';
import { createdWebhookViewSchema, deliveryViewSchema, webhookViewSchema } from '../webhooks/webhook-view.ts';

type JsonSchema = Record<string, unknown>;

/** A zod schema as a JSON Schema 2020-12 object (OpenAPI 3.1's dialect), without the `$schema` key. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const document = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  delete document.$schema;
  return document;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema) => ({ 'application/json': { schema } });
const errorResponse = (description: string) => ({ description, content: json(ref('Error')) });
const STANDARD_ERRORS = {
  '400': errorResponse('invalid request: the message names the field and the rule'),
  '401': errorResponse('missing or invalid bearer token'),
  '403': errorResponse('the credential lacks the scope'),
  '404': errorResponse('not found (also for another tenant’s resources)'),
};
const pathParameter = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });

/** Query parameters from an object schema's properties. */
function queryParameters(schema: z.ZodType): JsonSchema[] {
  const properties = (jsonSchema(schema, 'input').properties ?? {}) as Record<string, JsonSchema>;
  return Object.entries(properties).map(([name, property]) => ({ name, in: 'query', required: false, schema: property }));
}

function operation(summary: string, scope: string | null, responses: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    summary,
    ...(scope ? { security: [{ bearer: [scope] }], 'x-required-scope': scope } : { security: [] }),
    ...extra,
    responses: { ...responses, ...(scope ? STANDARD_ERRORS : {}) },
  };
}

export function openApiDocument(version: string): JsonSchema {
  const runId = pathParameter('run_id', 'the run id');
  const projectName = pathParameter('name', 'the project name');
  const webhookId = pathParameter('webhook_id', 'the webhook id (wh_...)');
  const secretKey = { ...pathParameter('key', 'the secret’s name'), schema: { type: 'string', pattern: SECRET_KEY.source } };
  const follow = { name: 'follow', in: 'query', required: false, schema: { type: 'string', enum: ['0', '1', 'true', 'false'] } };
  return {
    openapi: '3.1.0',
    info: { title: 'sandrun', version, description: 'Run code from git projects in throw-away, locked-down containers.' },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token (sr_...) or an OIDC JWT' } },
      schemas: {
        RunRequest: jsonSchema(runRequestSchema, 'input'),
        RunResult: jsonSchema(z.object(runResultShape), 'output'),
        RunSubmitted: jsonSchema(runOutputSchema, 'output'),
        RunList: jsonSchema(z.object(runListShape), 'output'),
        ProjectCreate: jsonSchema(projectCreateSchema, 'input'),
        ProjectList: jsonSchema(z.object(projectListShape), 'output'),
        ProjectDetail: jsonSchema(projectDetailViewSchema, 'output'),
        Environment: jsonSchema(z.object({ environment: environmentViewSchema }), 'output'),
        Models: jsonSchema(z.object(modelListShape), 'output'),
        SecretSet: jsonSchema(secretSetSchema, 'input'),
        Secret: jsonSchema(secretNameViewSchema, 'output'),
        SecretList: jsonSchema(z.object({ secrets: z.array(secretNameViewSchema) }), 'output'),
        TokenCreate: jsonSchema(tokenCreateSchema, 'input'),
        WebhookCreate: jsonSchema(webhookCreateSchema, 'input'),
        WebhookCreated: jsonSchema(createdWebhookViewSchema, 'output'),
        WebhookList: jsonSchema(z.object({ webhooks: z.array(webhookViewSchema) }), 'output'),
        DeliveryList: jsonSchema(z.object({ deliveries: z.array(deliveryViewSchema) }), 'output'),
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
            },
          },
        },
      },
    },
    paths: {
      '/v1/runs': {
        post: operation(
          'Start a run (sync: wait for the terminal result; async: 202 with a receipt)',
          'runs:write',
          {
            '200': { description: 'the terminal result (mode=sync)', content: json(ref('RunResult')) },
            '202': { description: 'the receipt (mode=async)', content: json(ref('RunSubmitted')) },
            '413': errorResponse('parameters over 1 MiB of JSON'),
            '422': errorResponse('the project’s sandrun.yaml is invalid at that commit (manifest_invalid), its checkout would pass the size or file-count cap (repo_too_large), or its network.allow names a destination the operator does not allow or the server cannot serve (egress_denied)'),
            '429': errorResponse('queue full or per-tenant limit reached'),
          },
          { requestBody: { required: true, content: json(ref('RunRequest')) } },
        ),
        get: operation('List the tenant’s runs, newest first', 'runs:read', { '200': { description: 'a page of runs', content: json(ref('RunList')) } }, {
          parameters: queryParameters(listQuerySchema),
        }),
      },
      '/v1/runs/{run_id}': {
        get: operation('The run as it is now', 'runs:read', { '200': { description: 'the run', content: json(ref('RunResult')) } }, { parameters: [runId] }),
      },
      '/v1/runs/{run_id}/cancel': {
        post: operation('Cancel a pending or running run', 'runs:write', {
          '200': { description: 'the cancelled run', content: json(ref('RunResult')) },
          '409': errorResponse('the run is already terminal'),
        }, { parameters: [runId] }),
      },
      '/v1/runs/{run_id}/replay': {
        post: operation('Run a finished run again with the same inputs (commit, scope, model, parameters); its result then has replay_of and outputs_match', 'runs:write', {
          '202': { description: 'the receipt of the replay, as for an async run request', content: json(ref('RunSubmitted')) },
          '409': errorResponse('the run has not finished, never started, or its outputs were removed by retention'),
          '422': errorResponse('the commit’s sandrun.yaml or network.allow can no longer be served (as for POST /v1/runs)'),
          '429': errorResponse('queue full or per-tenant limit reached'),
        }, { parameters: [runId] }),
      },
      '/v1/runs/{run_id}/artifacts/{path}': {
        get: operation(
          'One file the run left under /outputs (SPEC §12; the run lists them as artifacts), streamed with its Content-Type, Content-Length and ETag (its sha256, quoted); If-None-Match with that ETag answers 304',
          'runs:read',
          {
            '200': { description: 'the file’s bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
            '304': { description: 'not modified: the client’s copy (If-None-Match) is current' },
            '404': errorResponse('no such run for this tenant, or no artifact at that path (not_found)'),
          },
          { parameters: [runId, pathParameter('path', 'the artifact’s path under /outputs, slashes included (each segment percent-encoded)')] },
        ),
      },
      '/v1/runs/{run_id}/logs': {
        get: operation('Logs as Server-Sent Events: stdout/stderr events {text}, then end with the run', 'runs:read', {
          '200': { description: 'an event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          '429': errorResponse('the tenant has SANDRUN_TENANT_MAX_LOG_STREAMS streams open'),
        }, { parameters: [runId, follow] }),
      },
      '/v1/projects': {
        post: operation('Register a project', 'projects:write', {
          '201': { description: 'the project with its models and environment', content: json(ref('ProjectDetail')) },
          '409': errorResponse('the name is taken, or the tenant has as many projects as it may'),
          '422': errorResponse('the repository cannot be cloned (git_failed) or passes the size or file-count cap (repo_too_large)'),
          '429': errorResponse('too many clones at once, for the tenant or the server'),
          '503': errorResponse('the data directory’s disk is below its free-space floor (disk_full)'),
        }, {
          requestBody: { required: true, content: json(ref('ProjectCreate')) },
        }),
        get: operation('List the tenant’s projects', 'projects:read', { '200': { description: 'projects', content: json(ref('ProjectList')) } }),
      },
      '/v1/projects/{name}': {
        get: operation('One project, with its models and environment at the default branch', 'projects:read', {
          '200': { description: 'the project', content: json(ref('ProjectDetail')) },
          '503': errorResponse('the engine does not answer (engine_unavailable): the environment’s base image cannot be looked at'),
        }, { parameters: [projectName] }),
        delete: operation('Unregister a project', 'projects:write', { '204': { description: 'removed' }, '409': errorResponse('it has pending or running runs') }, { parameters: [projectName] }),
      },
      '/v1/projects/{name}/refresh': {
        post: operation('Fetch the repository again; a fetch past the size or file-count cap is undone', 'projects:write', {
          '200': { description: 'the project', content: json(ref('ProjectDetail')) },
          '422': errorResponse('the fetch failed (git_failed), or passed a cap and was undone (repo_too_large)'),
          '429': errorResponse('too many clones or fetches at once, for the tenant or the server'),
          '503': errorResponse('the data directory’s disk is below its free-space floor (disk_full)'),
        }, { parameters: [projectName] }),
      },
      '/v1/projects/{name}/environment/build': {
        post: operation('Build the environment sandrun.yaml declares at the default branch now (SPEC §9); nothing is rebuilt when it is ready', 'projects:write', {
          '202': { description: 'the environment: building, or ready when it already was', content: json(ref('Environment')) },
          '409': errorResponse('sandrun.yaml at the default branch declares no environment (conflict)'),
          '422': errorResponse('sandrun.yaml is invalid (manifest_invalid), or a declared file breaks a rule (environment_failed)'),
          '503': errorResponse('the engine does not answer (engine_unavailable)'),
        }, { parameters: [projectName] }),
      },
      '/v1/projects/{name}/environment/log': {
        get: operation(
          'The default branch’s environment build log. With follow=1 while a build is under way: Server-Sent Events, log {text} (the tail so far, then each piece), then end with the environment. Otherwise JSON {environment} with the stored log',
          'projects:read',
          {
            '200': {
              description: 'an event stream (following a build under way) or the environment as it is now',
              content: { 'text/event-stream': { schema: { type: 'string' } }, ...json(ref('Environment')) },
            },
            '429': errorResponse('the tenant has SANDRUN_TENANT_MAX_LOG_STREAMS streams open'),
          },
          { parameters: [projectName, follow] },
        ),
      },
      '/v1/projects/{name}/secrets': {
        get: operation('The project’s secrets: names and when each was set, never values (SPEC §10)', 'projects:read', {
          '200': { description: 'the secrets, by key', content: json(ref('SecretList')) },
        }, { parameters: [projectName] }),
      },
      '/v1/projects/{name}/secrets/{key}': {
        put: operation('Set a secret (a run reads it at /run/secrets/KEY); the value is stored sealed and never returned', 'projects:write', {
          '200': { description: 'replaced: the key and when it was set', content: json(ref('Secret')) },
          '201': { description: 'created: the key and when it was set', content: json(ref('Secret')) },
          '409': errorResponse('the project has SANDRUN_PROJECT_MAX_SECRETS secrets already (conflict)'),
        }, { parameters: [projectName, secretKey], requestBody: { required: true, content: json(ref('SecretSet')) } }),
        delete: operation('Remove a secret', 'projects:write', { '204': { description: 'removed' } }, { parameters: [projectName, secretKey] }),
      },
      '/v1/webhooks': {
        get: operation('The tenant’s webhooks (never their secrets) (SPEC §12)', 'admin', { '200': { description: 'the webhooks, oldest first', content: json(ref('WebhookList')) } }),
        post: operation(
          'Add a webhook: each finished run’s result is POSTed to its URL, signed (Sandrun-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">), retried with backoff for 24 h until a 2xx; the signing secret is in this response only',
          'admin',
          {
            '201': { description: 'the webhook and its signing secret', content: json(ref('WebhookCreated')) },
            '409': errorResponse('the tenant has SANDRUN_TENANT_MAX_WEBHOOKS webhooks already (conflict)'),
            '422': errorResponse('the URL leads to a loopback, link-local, private or metadata address, or does not resolve (destination_refused)'),
          },
          { requestBody: { required: true, content: json(ref('WebhookCreate')) } },
        ),
      },
      '/v1/webhooks/{webhook_id}': {
        delete: operation('Remove a webhook and its pending deliveries', 'admin', { '204': { description: 'removed' } }, { parameters: [webhookId] }),
      },
      '/v1/webhooks/{webhook_id}/deliveries': {
        get: operation('A webhook’s deliveries, newest first, each with its attempts (status code or error)', 'admin', {
          '200': { description: 'the deliveries', content: json(ref('DeliveryList')) },
        }, { parameters: [webhookId, ...queryParameters(deliveriesQuerySchema)] }),
      },
      '/v1/tokens': {
        get: operation('The tenant’s API tokens', 'admin', { '200': { description: 'tokens (never their secrets)', content: json({ type: 'object' }) } }),
        post: operation('Create an API token; the secret is in this response only', 'admin', { '201': { description: 'the token', content: json({ type: 'object' }) } }, {
          requestBody: { required: true, content: json(ref('TokenCreate')) },
        }),
      },
      '/v1/tokens/{token_id}': {
        delete: operation('Revoke an API token', 'admin', { '204': { description: 'revoked' } }, { parameters: [pathParameter('token_id', 'the token id')] }),
      },
      '/mcp': { post: operation('MCP Streamable HTTP endpoint (tools run, get_run, list_runs, cancel_run, list_projects, list_models)', 'runs:read', { '200': { description: 'JSON-RPC response or event stream' } }) },
      '/healthz': { get: operation('Liveness', null, { '200': { description: 'alive' } }) },
      '/readyz': { get: operation('Readiness: database and engine', null, { '200': { description: 'ready' }, '503': { description: 'not ready, with each check' } }) },
      '/metrics': { get: operation('Prometheus metrics', null, { '200': { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } }) },
      '/openapi.json': { get: operation('This document', null, { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } }) },
    },
  };
}

/** GET /openapi.json, no credentials needed (the document holds no tenant data). */
export function openApiRoutes(version: string): Router {
  const router = Router();
  const document = openApiDocument(version);
  router.get('/openapi.json', (_request, response) => {
    response.json(document);
  });
  return router;
}
