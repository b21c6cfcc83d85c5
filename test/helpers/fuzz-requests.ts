// Hostile HTTP requests as fast-check arbitraries, and how to send them with node:http (keep-alive); raw ones are in fuzz-raw-requests.ts.
import fc from 'fast-check';
import { request as httpRequest, type Agent } from 'node:http';
import { rawRequests } from './fuzz-raw-requests.ts';

/** One generated request. `raw` ones are bytes written to a fresh socket, for what node:http refuses to send. */
export type FuzzRequest =
  | { kind: 'http'; method: string; path: string; headers: Record<string, string | string[]>; body: Body | undefined }
  | { kind: 'raw'; bytes: () => Buffer; halfClose: boolean; label: string };

/** A body is made when sent: a counterexample then prints its recipe, not two megabytes. */
interface Body {
  make: () => Buffer;
  label: string;
}

/** What came back: a status, or why none did. */
export interface Answer {
  status?: number;
  retryAfter?: string;
  error?: string;
}

export interface Credentials {
  /** `Bearer ...` values that authenticate (tokens of tenants without projects). */
  valid: string[];
  /** Tokens that are well formed but revoked or expired. */
  dead: string[];
}

const body = (label: string, make: () => Buffer | string): Body => ({ label, make: () => Buffer.from(make()) });
const text = (value: string): Body => body(value.length > 120 ? `${value.slice(0, 120)}… (${value.length} chars)` : value, () => value);

export function describeRequest(request: FuzzRequest): string {
  if (request.kind === 'raw') return `raw ${request.label}${request.halfClose ? ' (half-closed)' : ''}`;
  const headers = JSON.stringify(request.headers);
  return `${request.method} ${request.path.slice(0, 200)} (head ${headBytes(request)} bytes) headers=${headers.length > 400 ? `${headers.slice(0, 400)}…` : headers} body=${request.body?.label ?? 'none'}`;
}

// ---- paths -------------------------------------------------------------------------------------------------

const KNOWN_PATHS = [
  '/v1/runs', '/v1/runs/00000000-0000-4000-8000-000000000000', '/v1/runs/x/cancel', '/v1/runs/x/logs?follow=1', '/v1/runs/x/logs',
  '/v1/runs/x/request', '/v1/projects', '/v1/projects/no-such-project', '/v1/projects/x/refresh', '/v1/tokens', '/v1/tokens/x',
  '/v1/audit', '/v1/usage', '/mcp', '/healthz', '/readyz', '/metrics', '/openapi.json', '/', '/console/console.js', '/console/../../package.json',
  '/v1/runs/x/replay', '/v1/runs/x/artifacts/a/b.csv', '/v1/runs/x/artifacts/..%2F..%2Fsandrun.db', '/v1/webhooks', '/v1/webhooks/x', '/v1/webhooks/x/deliveries',
  '/v1/projects/x/secrets', '/v1/projects/x/secrets/KEY', '/v1/projects/x/environment/build', '/v1/projects/x/environment/log',
];
const ESCAPES = ['%ZZ', '%', '%E0%A4%A', '%00', '%2F', '%2e%2e', '%C0%AE', '%FF', '%u0041', '%%', '%7', '..', '.', '', '%F0%9F%98', '%EF%BF%BF', 'é'];
const SEGMENT_CHARS = [...'abcXYZ019-._~!$&\'()*+,;=:@%'];

const segment = fc.oneof(
  fc.constantFrom('v1', 'V1', 'runs', 'RUNS', 'Runs', 'projects', 'tokens', 'audit', 'usage', 'mcp', 'MCP', 'cancel', 'logs', 'refresh', 'request', 'healthz', 'metrics', 'replay', 'artifacts', 'webhooks', 'deliveries', 'secrets'),
  fc.constantFrom(...ESCAPES),
  fc.string({ unit: fc.constantFrom(...SEGMENT_CHARS), maxLength: 24 }),
  fc.integer({ min: 100, max: 1_500 }).map((length) => 'a%'.repeat(length / 2)),
);
const query = fc.constantFrom('', '?follow=1', '?limit=abc', '?limit=0', '?limit=99999', '?cursor=%ZZ', '?status=x&status=y', '?a[b]=c', '?%ZZ=%ZZ', '?project_name=', '?follow=1&follow=0', '?__proto__=x');

/** Sizes for a path or header: clearly within Node's 16 KB limit on a request head, or clearly past it. */
const overOrUnder = fc.oneof(fc.integer({ min: 1_000, max: 6_000 }), fc.integer({ min: 20_000, max: 30_000 }));

const casing = (path: string, flips: boolean[]) => [...path].map((char, i) => (flips[i % flips.length] ? char.toUpperCase() : char)).join('');

const path = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...KNOWN_PATHS) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...KNOWN_PATHS), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 })).map(([known, flips]) => casing(known, flips)) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.array(segment, { maxLength: 6 }), query, fc.constantFrom('/', '//', '/v1/', '/V1//'), fc.boolean())
      .map(([segments, search, prefix, trailing]) => `${prefix}${segments.join('/')}${trailing ? '/' : ''}${search}`),
  },
  { weight: 1, arbitrary: overOrUnder.map((length) => `/v1/runs/${'r'.repeat(length)}`) },
);

// ---- bodies ------------------------------------------------------------------------------------------------

const projectName = fc.constantFrom('no-such-project', 'fuzz-missing', 'Demo', '', '../etc', '%ZZ', 'a'.repeat(300));
const runRequest = fc.record(
  {
    scope: fc.oneof(fc.constantFrom('project', 'model', 'PROJECT'), fc.jsonValue({ maxDepth: 1 })),
    mode: fc.oneof(fc.constantFrom('sync', 'async'), fc.jsonValue({ maxDepth: 1 })),
    project_name: fc.oneof(projectName, fc.jsonValue({ maxDepth: 1 })),
    model_name: fc.oneof(fc.constant(null), fc.string({ maxLength: 20 })),
    branch: fc.oneof(fc.constant(null), fc.constantFrom('main', '../../x', '-x', '')),
    commit_sha: fc.oneof(fc.constant(null), fc.stringMatching(/^[0-9a-f]{7,40}$/), fc.string({ maxLength: 50 })),
    parameters: fc.oneof(fc.constant(null), fc.jsonValue({ maxDepth: 6 }), fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }))),
    idempotency_key: fc.string({ maxLength: 300 }),
    unknown_field: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

const TOOLS = ['run', 'get_run', 'list_runs', 'cancel_run', 'list_projects', 'list_models', 'nope', '__proto__'];
const toolArguments = fc.oneof(runRequest, fc.record({ run_id: fc.oneof(fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: [] }), fc.jsonValue({ maxDepth: 3 }));
const rpcMessage = fc.record(
  {
    jsonrpc: fc.constantFrom('2.0', '2.0', '1.0', 2),
    id: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.string({ maxLength: 8 }), fc.constant(null), fc.jsonValue({ maxDepth: 1 })),
    method: fc.constantFrom('tools/call', 'tools/call', 'tools/list', 'initialize', 'ping', 'notifications/initialized', 'resources/list', 'prompts/get', '', 'x'),
    params: fc.oneof(
      fc.record({ name: fc.constantFrom(...TOOLS), arguments: toolArguments }, { requiredKeys: ['name'] }),
      fc.constant({ protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } }),
      fc.jsonValue({ maxDepth: 3 }),
    ),
  },
  { requiredKeys: ['jsonrpc', 'method'] },
);
const rpcBody = fc.oneof(rpcMessage, fc.array(rpcMessage, { maxLength: 12 }), fc.array(rpcMessage, { minLength: 99, maxLength: 104 }));

/** `depth` levels of arrays or objects, built as text (nothing recursive on this side either). */
function nested(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

const deepBody = fc
  .tuple(fc.integer({ min: 2, max: 60_000 }), fc.constantFrom<'array' | 'object'>('array', 'object'), fc.constantFrom('bare', 'parameters', 'mcp'))
  .map(([depth, shape, where]) =>
    body(`${where} nested ${depth} deep (${shape}s)`, () => {
      const inner = nested(depth, shape);
      if (where === 'bare') return inner;
      const run = `{"scope":"project","mode":"sync","project_name":"no-such-project","parameters":{"p":${inner}}}`;
      return where === 'parameters' ? run : `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run","arguments":${run}}}`;
    }),
  );

const invalidJson = fc.oneof(
  fc.constantFrom('{', '}', '[1,2', '{"a":}', 'nul', 'NaN', '{"a":1,}', "{'a':1}", '\u0000', '"\\uD800"', '{"__proto__":{"polluted":1}}', '1e999999', '-', '[]]', '\ufeff{}'),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)?.slice(0, -1) ?? '{'),
);

const requestBody: fc.Arbitrary<Body | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 6 }).map((value) => text(JSON.stringify(value) ?? 'null')) },
  { weight: 4, arbitrary: runRequest.map((value) => text(JSON.stringify(value))) },
  { weight: 4, arbitrary: rpcBody.map((value) => text(JSON.stringify(value))) },
  { weight: 2, arbitrary: deepBody },
  { weight: 2, arbitrary: invalidJson.map(text) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 3000 }).map((bytes) => body(`${bytes.length} random bytes`, () => Buffer.from(bytes))) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 900_000, max: 2_300_000 }).map((size) =>
      body(`run request with a ${size}-byte string parameter`, () => `{"scope":"project","mode":"async","project_name":"no-such-project","parameters":{"blob":"${'x'.repeat(size)}"}}`),
    ),
  },
);

// ---- headers -----------------------------------------------------------------------------------------------

/** What node:http lets through in a header value: tab, printable ASCII and Latin-1. */
const headerValue = fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(9)).map((code) => String.fromCharCode(code)), maxLength: 60 });

function authorization(credentials: Credentials, validWeight: number): fc.Arbitrary<string | string[] | undefined> {
  const [token] = credentials.valid;
  const forms = [
    'Bearer', 'Bearer ', `bearer ${token!.slice(7)}`, `BEARER ${token!.slice(7)}`, `Bearer  ${token!.slice(7)}`, `${token} `, `${token}x`, `${token},${token}`,
    'Basic dXNlcjpwYXNz', 'Bearer sr_', `Bearer sr_${'A'.repeat(43)}`, 'Bearer a.b.c', 'Bearer eyJhbGciOiJub25lIn0.eyJvcmdfaWQiOiJ4In0.', 'Token abc',
    `Bearer ${'x'.repeat(9000)}`, ...credentials.dead,
  ];
  return fc.oneof(
    { weight: validWeight, arbitrary: fc.constantFrom(...credentials.valid) },
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constantFrom(...forms) },
    { weight: 1, arbitrary: headerValue },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...credentials.valid, ...forms), fc.constantFrom(...credentials.valid, ...forms)).map(([a, b]) => [a, b]) },
  );
}

const contentType = fc.constantFrom(
  undefined, 'application/json', 'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json; charset=latin1',
  'application/json; charset=bogus', 'application/json; charset="utf-8"', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
  'application/*', '*/*', ';;;', 'application/merge-patch+json', 'application/json, text/plain',
);

function headers(credentials: Credentials, port: number, validWeight: number): fc.Arbitrary<Record<string, string | string[]>> {
  return fc
    .record(
      {
        authorization: authorization(credentials, validWeight),
        'content-type': contentType,
        accept: fc.constantFrom('application/json, text/event-stream', 'application/json', 'text/event-stream', '*/*'),
        'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'bogus', 'gzip, gzip'),
        'x-request-id': fc.oneof(fc.constantFrom('ok-id', 'a'.repeat(200), '../..'), headerValue),
        'idempotency-key': fc.oneof(fc.constantFrom('key-1', 'x'.repeat(300)), headerValue),
        'mcp-protocol-version': fc.constantFrom('2025-06-18', '2025-03-26', '1999-01-01', ''),
        host: fc.constantFrom(`127.0.0.1:${port}`, `localhost:${port}`, 'evil.example', 'EVIL.example:80', '', '[::1]'),
        'if-none-match': fc.constantFrom('*', 'W/"x"', '"'),
        'x-huge': fc.oneof({ weight: 15, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: overOrUnder.map((length) => 'h'.repeat(length)) }),
        expect: fc.constant('100-continue'),
      },
      { requiredKeys: ['authorization', 'content-type', 'accept'] },
    )
    .map((record) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Record<string, string | string[]>);
}

/** fast-check prints a counterexample with this, not as the whole object (a 20 KB header, say). */
const printable = <T extends FuzzRequest>(request: T): T => Object.assign(request, { [fc.toStringMethod]: () => describeRequest(request) });

/** `validWeight`: how often a valid token is sent, against 6 for every other form of Authorization together. */
export function fuzzRequest(credentials: Credentials, port: number, validWeight = 5): fc.Arbitrary<FuzzRequest> {
  const http = fc
    .record({
      method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'SEARCH'),
      path,
      headers: headers(credentials, port, validWeight),
      body: requestBody,
    })
    .map((request) => printable({ kind: 'http' as const, ...request }));
  return fc.oneof({ weight: 9, arbitrary: http }, { weight: 1, arbitrary: rawRequests(credentials).map(printable) });
}

/**
 * Node's HTTP server refuses some requests in its parser (431 for a head over 16 KB, 400 for a byte outside ASCII in
 * the path) and closes the connection at once: a client still sending its body may see a reset instead of the answer.
 */
const SERVER_MAX_HEAD_BYTES = 16 * 1024;

/** About the size of a request's head as sent (request line and headers). */
function headBytes(request: Extract<FuzzRequest, { kind: 'http' }>): number {
  const headers = Object.entries(request.headers).reduce((sum, [name, value]) => sum + [value].flat().reduce((line, item) => line + name.length + item.length + 4, 0), 0);
  return request.method.length + request.path.length + 12 + headers;
}

export function refusedByParser(request: FuzzRequest): boolean {
  return request.kind === 'http' && (headBytes(request) > SERVER_MAX_HEAD_BYTES - 1_024 || /[^\x21-\x7e]/.test(request.path));
}

// ---- sending -----------------------------------------------------------------------------------------------

/** A request the server does not answer within this is a failure (none of these starts a run). */
const ANSWER_TIMEOUT_MS = 20_000;

export function sendHttp(port: number, agent: Agent, request: Extract<FuzzRequest, { kind: 'http' }>): Promise<Answer> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer: Answer) => {
      if (!settled) resolve(answer);
      settled = true;
    };
    const content = request.body?.make();
    // node:http frames no body of a GET, DELETE, OPTIONS or TRACE on its own: unframed, the body would be read as the next request.
    const headers = content === undefined ? request.headers : { ...request.headers, 'content-length': String(content.length) };
    let outgoing;
    try {
      outgoing = httpRequest({ host: '127.0.0.1', port, method: request.method, path: request.path, headers, agent, timeout: ANSWER_TIMEOUT_MS }, (response) => {
        const answer = { status: response.statusCode, retryAfter: response.headers['retry-after'] };
        response.on('data', () => undefined);
        response.on('end', () => done(answer));
        response.on('error', () => done(answer));
        response.on('aborted', () => done(answer));
      });
    } catch (error) {
      done({ error: `not sent: ${String(error)}` });
      return;
    }
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`)));
    outgoing.on('error', (error) => done({ error: error.message }));
    outgoing.end(content);
  });
}
