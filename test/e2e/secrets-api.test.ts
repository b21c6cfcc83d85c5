// A project's secrets over HTTP, MCP and the CLI (SPEC §10): names in every answer, the value nowhere but where a run will get it.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import Database from 'better-sqlite3';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox, loadSecretsKey } from '../../src/secrets/secret-box.ts';
import { ALL_SCOPES, startTestServer, type TestServer } from '../helpers/server.ts';
import { TestRepo } from '../helpers/git-repo.ts';

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));
const MAX_SECRETS = 4;

let server: TestServer;
let repo: TestRepo;
let token: string;
let admin: string;
let out: string;
const tenant = `secrets-${process.pid}`;
const logLines: string[] = [];

/** A value no other byte sequence of the test's data holds by chance, and holding a multi-byte character. */
const secretValue = (label: string) => `sk-${label}-${process.pid}-${Math.random().toString(36).slice(2)}-ünïcode`;

const projectId = async (tenantId: string, name: string) => (await server.sandrun.projectService.require(tenantId, name)).id;

/** Every place on disk the server's database is: the file and its WAL (and the journal, should there be one). */
function databaseBytes(dataDir: string): Buffer {
  const files = ['sandrun.db', 'sandrun.db-wal', 'sandrun.db-journal'].map((name) => join(dataDir, name)).filter((file) => existsSync(file));
  return Buffer.concat(files.map((file) => readFileSync(file)));
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `sandrun ARGS` against the server, with `stdin` written to it and closed (none: an empty stdin). */
function sandrun(args: string[], stdin = '', env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, SANDRUN_URL: server.url, SANDRUN_TOKEN: token, SANDRUN_DATA_DIR: server.dataDir, NO_COLOR: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}
const describeResult = (result: CliResult) => `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;

beforeAll(async () => {
  server = await startTestServer(
    { SANDRUN_PROJECT_MAX_SECRETS: String(MAX_SECRETS), SANDRUN_LOG_LEVEL: 'debug' },
    { logs: { write: (line: string) => void logLines.push(line) } },
  );
  repo = new TestRepo({ 'models/hello.py': 'print("hello")\n' });
  token = await server.token(tenant);
  admin = await server.token(tenant, [...ALL_SCOPES, 'admin']);
  for (const name of ['demo', 'other']) {
    const added = await server.request(token, 'POST', '/v1/projects', { name, repo_url: repo.dir });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
  }
  out = mkdtempSync(join(tmpdir(), 'sandrun-secrets-'));
});

afterAll(async () => {
  await server?.close();
  repo?.remove();
  if (out) rmSync(out, { recursive: true, force: true });
});

describe('project secrets over REST', () => {
  it('set, replace, list and delete: every answer names the secret, none carries its value; a run is given the value', async () => {
    const first = secretValue('first');
    const second = secretValue('second');
    const created = await server.request(token, 'PUT', '/v1/projects/demo/secrets/API_TOKEN', { value: first });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(Object.keys(created.body).sort()).toEqual(['key', 'updated_at']);
    expect(created.body.key).toBe('API_TOKEN');
    const replaced = await server.request(token, 'PUT', '/v1/projects/demo/secrets/API_TOKEN', { value: second });
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
    expect(replaced.body.updated_at >= created.body.updated_at).toBe(true);

    const answers = await Promise.all([
      server.request(token, 'GET', '/v1/projects/demo/secrets'),
      server.request(token, 'GET', '/v1/projects/demo'),
      server.request(token, 'GET', '/v1/projects'),
    ]);
    expect(answers[0].body).toEqual({ secrets: [{ key: 'API_TOKEN', updated_at: replaced.body.updated_at }] });
    expect(answers[1].body.secrets).toEqual([{ key: 'API_TOKEN', updated_at: replaced.body.updated_at }]);
    expect(answers[2].body.projects.find((project: { name: string }) => project.name === 'demo').secrets).toEqual([{ key: 'API_TOKEN', updated_at: replaced.body.updated_at }]);
    for (const answer of [created, replaced, ...answers]) {
      const text = JSON.stringify(answer.body);
      expect(text.includes(first) || text.includes(second), text).toBe(false);
    }
    // What the run flow gets: the value set last.
    expect(await server.sandrun.projectSecrets.valuesFor(await projectId(tenant, 'demo'))).toEqual({ API_TOKEN: second });

    const removed = await server.request(token, 'DELETE', '/v1/projects/demo/secrets/API_TOKEN');
    expect(removed.status, JSON.stringify(removed.body)).toBe(204);
    const again = await server.request(token, 'DELETE', '/v1/projects/demo/secrets/API_TOKEN');
    expect(again.status).toBe(404);
    expect(again.body.error.message).toBe("project 'demo' has no secret API_TOKEN");
    expect((await server.request(token, 'GET', '/v1/projects/demo/secrets')).body).toEqual({ secrets: [] });
    expect(await server.sandrun.projectSecrets.valuesFor(await projectId(tenant, 'demo'))).toEqual({});
  });

  it('MCP shows the names in list_projects and has no way to read a value', async () => {
    const value = secretValue('mcp');
    expect((await server.request(token, 'PUT', '/v1/projects/other/secrets/MCP_VISIBLE', { value })).status).toBe(201);
    const client = new Client({ name: 'secrets-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    try {
      const listed = await client.callTool({ name: 'list_projects', arguments: {} });
      const projects = (listed.structuredContent as { projects: { name: string; secrets: { key: string }[] }[] }).projects;
      expect(projects.find((project) => project.name === 'other')?.secrets.map((secret) => secret.key)).toEqual(['MCP_VISIBLE']);
      expect(JSON.stringify(listed)).not.toContain(value);
      const tools = (await client.listTools()).tools.map((tool) => tool.name);
      expect(tools.filter((name) => /secret/i.test(name)), tools.join(', ')).toEqual([]);
    } finally {
      await client.close();
      await server.request(token, 'DELETE', '/v1/projects/other/secrets/MCP_VISIBLE');
    }
  });

  it('the database file, its WAL and a backup hold the value only sealed, and the backup opens with the key file', async () => {
    const value = secretValue('at-rest');
    expect((await server.request(token, 'PUT', '/v1/projects/demo/secrets/WAREHOUSE_PASSWORD', { value })).status).toBe(201);
    const plaintext = Buffer.from(value, 'utf8');
    expect(databaseBytes(server.dataDir).includes(plaintext), 'the plaintext value is in sandrun.db or its WAL').toBe(false);
    expect(databaseBytes(server.dataDir).includes(Buffer.from(value.slice(0, 16), 'utf8')), 'a prefix of the value is in sandrun.db or its WAL').toBe(false);

    const target = join(out, 'backup.db');
    const backup = await new Promise<CliResult>((resolve) =>
      execFile(process.execPath, [BIN, 'backup', target], { env: { ...process.env, SANDRUN_DATA_DIR: server.dataDir } }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
      ),
    );
    expect(backup.code, describeResult(backup)).toBe(0);
    expect(readFileSync(target).includes(plaintext), 'the plaintext value is in the backup').toBe(false);
    const copy = new Database(target, { readonly: true });
    try {
      const row = copy.prepare('SELECT sealed FROM project_secrets WHERE key = ?').get('WAREHOUSE_PASSWORD') as { sealed: string };
      expect(row.sealed).toMatch(/^v1\./);
      // Sealed, not lost: the server's key (the 0600 file in the data directory, which the backup does not hold) opens it.
      const box = new SecretBox(loadSecretsKey(server.dataDir, undefined));
      expect(box.open(row.sealed, `project-secret:${await projectId(tenant, 'demo')}:WAREHOUSE_PASSWORD`)).toBe(value);
    } finally {
      copy.close();
    }
    await server.request(token, 'DELETE', '/v1/projects/demo/secrets/WAREHOUSE_PASSWORD');
  });

  it('the audit log names the key and the project, never the value; nor does the request log', async () => {
    const value = secretValue('audit');
    await server.request(token, 'PUT', '/v1/projects/demo/secrets/AUDITED_KEY', { value });
    await server.request(token, 'PUT', '/v1/projects/demo/secrets/AUDITED_KEY', { value, note: 'x' }); // refused: 400
    await server.request(token, 'DELETE', '/v1/projects/demo/secrets/AUDITED_KEY');
    const reader = await server.token(tenant, ['projects:read']);
    await server.request(reader, 'PUT', '/v1/projects/demo/secrets/AUDITED_KEY', { value }); // denied: 403
    // The middleware writes once the response is done.
    await expect
      .poll(async () => (await server.request(admin, 'GET', '/v1/audit?limit=20')).body.entries.filter((entry: { target: string }) => entry.target === 'project:demo/secret:AUDITED_KEY').length)
      .toBe(4);
    const entries = (await server.request(admin, 'GET', '/v1/audit?limit=20')).body.entries.filter((entry: { target: string }) => entry.target === 'project:demo/secret:AUDITED_KEY');
    expect(entries.map((entry: { action: string; status: number }) => `${entry.action} ${entry.status}`).reverse()).toEqual([
      'PUT /v1/projects/:id/secrets/:key 201',
      'PUT /v1/projects/:id/secrets/:key 400',
      'DELETE /v1/projects/:id/secrets/:key 204',
      'PUT /v1/projects/:id/secrets/:key 403',
    ]);
    const everything = JSON.stringify((await server.request(admin, 'GET', '/v1/audit?limit=500')).body);
    expect(everything).not.toContain(value);
    expect(logLines.join('')).toContain('/v1/projects/:name/secrets/:key');
    expect(logLines.join(''), 'the value is in the server log').not.toContain(value);
  });

  it("another tenant's token gets 404 on every secret route of a project it does not own, and its own project of that name is separate", async () => {
    const value = secretValue('tenant-a');
    expect((await server.request(token, 'PUT', '/v1/projects/demo/secrets/SHARED_NAME', { value })).status).toBe(201);
    const stranger = await server.token(`${tenant}-b`);
    const calls = [
      await server.request(stranger, 'GET', '/v1/projects/demo/secrets'),
      await server.request(stranger, 'PUT', '/v1/projects/demo/secrets/SHARED_NAME', { value: 'overwritten' }),
      await server.request(stranger, 'DELETE', '/v1/projects/demo/secrets/SHARED_NAME'),
    ];
    for (const call of calls) {
      expect(call.status, JSON.stringify(call.body)).toBe(404);
      expect(call.body.error.message).toBe("project 'demo' not found");
    }
    expect((await server.request(stranger, 'POST', '/v1/projects', { name: 'demo', repo_url: repo.dir })).status).toBe(201);
    expect((await server.request(stranger, 'PUT', '/v1/projects/demo/secrets/SHARED_NAME', { value: 'theirs' })).status).toBe(201);
    expect(await server.sandrun.projectSecrets.valuesFor(await projectId(tenant, 'demo'))).toEqual({ SHARED_NAME: value });
    expect(await server.sandrun.projectSecrets.valuesFor(await projectId(`${tenant}-b`, 'demo'))).toEqual({ SHARED_NAME: 'theirs' });
    await server.request(token, 'DELETE', '/v1/projects/demo/secrets/SHARED_NAME');
  });

  it('a bad KEY, an oversized, empty or non-string value, an unknown field and malformed JSON are 400s naming the rule without the value', async () => {
    const value = secretValue('refused');
    const cases: [string, string, unknown, RegExp][] = [
      ['lower-case key', 'api_token', { value }, /KEY \(the secret's name in the path\) must match \^\[A-Z\]\[A-Z0-9_\]\{0,63\}\$/],
      ['key of 65 characters', `A${'B'.repeat(64)}`, { value }, /must match/],
      ['key starting with a digit', '1KEY', { value }, /must match/],
      ['value over 64 KiB', 'BIG', { value: value + 'x'.repeat(64 * 1024) }, /^value must be at most 65536 bytes of UTF-8 \(64 KiB\)$/],
      ['value of 64 KiB + 1 byte in two-byte characters', 'BIG', { value: 'é'.repeat(32 * 1024) + 'x' }, /at most 65536 bytes/],
      ['empty value', 'EMPTY', { value: '' }, /^value must not be empty$/],
      ['three-character value', 'SHORT', { value: 'abc' }, /^value must be at least 4 characters/],
      ['value not a string', 'NUMBER', { value: 42 }, /^value is required and must be a string$/],
      ['no value', 'NONE', {}, /^value is required and must be a string$/],
      ['unknown field', 'EXTRA', { value, value2: value }, /^unknown field\(s\) value2; the only field is value$/],
      ['body not an object', 'STRING', JSON.stringify(value), /^the body must be a JSON object \{"value": "\.\.\."\}$/],
      ['malformed JSON', 'MALFORMED', `{"value": ${value}}`, /^the request body is not valid JSON/],
      ['malformed JSON, cut', 'MALFORMED', `{"value": "${value}`, /^the request body is not valid JSON/],
    ];
    for (const [name, key, body, rule] of cases) {
      const answer = await server.request(token, 'PUT', `/v1/projects/demo/secrets/${key}`, body);
      expect(answer.status, `${name}: ${JSON.stringify(answer.body)}`).toBe(400);
      expect(answer.body.error.message, name).toMatch(rule);
      const text = JSON.stringify(answer.body);
      // Not the value, nor a piece of it (V8's JSON.parse message quotes ten characters around the fault).
      expect(text.includes(value.slice(0, 8)), `${name}: ${text}`).toBe(false);
    }
    const exactly = await server.request(token, 'PUT', '/v1/projects/demo/secrets/BIG', { value: 'é'.repeat(32 * 1024) });
    expect(exactly.status, 'a value of exactly 64 KiB of UTF-8 is accepted').toBe(201);
    expect((await server.request(token, 'DELETE', '/v1/projects/demo/secrets/1KEY')).status).toBe(400);
    expect((await server.request(token, 'GET', '/v1/projects/demo/secrets')).body.secrets.map((secret: { key: string }) => secret.key)).toEqual(['BIG']);
    await server.request(token, 'DELETE', '/v1/projects/demo/secrets/BIG');
  });

  it('projects:read lists secrets but cannot set or remove one; runs scopes cannot list them', async () => {
    const reader = await server.token(tenant, ['projects:read']);
    expect((await server.request(reader, 'GET', '/v1/projects/demo/secrets')).status).toBe(200);
    const put = await server.request(reader, 'PUT', '/v1/projects/demo/secrets/READER_KEY', { value: 'v' });
    expect(put.status, JSON.stringify(put.body)).toBe(403);
    expect(put.body.error.message).toContain('projects:write');
    expect((await server.request(reader, 'DELETE', '/v1/projects/demo/secrets/READER_KEY')).status).toBe(403);
    const runner = await server.token(tenant, ['runs:read', 'runs:write']);
    expect((await server.request(runner, 'GET', '/v1/projects/demo/secrets')).status).toBe(403);
    expect((await server.request(token, 'GET', '/v1/projects/demo/secrets')).body.secrets).toEqual([]);
  });

  it(`a project holds at most SANDRUN_PROJECT_MAX_SECRETS (${MAX_SECRETS}) secrets: a 409 past it, while replacing one still works`, async () => {
    for (let index = 0; index < MAX_SECRETS; index += 1) {
      expect((await server.request(token, 'PUT', `/v1/projects/other/secrets/KEY_${index}`, { value: `value-${index}` })).status).toBe(201);
    }
    const refused = await server.request(token, 'PUT', '/v1/projects/other/secrets/ONE_MORE', { value: 'one-more' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.error.message).toContain(`SANDRUN_PROJECT_MAX_SECRETS=${MAX_SECRETS}`);
    expect(refused.body.error.details).toEqual({ limit: 'project_secrets', max: MAX_SECRETS, count: MAX_SECRETS });
    expect((await server.request(token, 'PUT', '/v1/projects/other/secrets/KEY_0', { value: 'replaced' })).status).toBe(200);
    for (let index = 0; index < MAX_SECRETS; index += 1) await server.request(token, 'DELETE', `/v1/projects/other/secrets/KEY_${index}`);
  });

  it('removing a project removes its secrets: registered again under the name, it has none', async () => {
    expect((await server.request(token, 'POST', '/v1/projects', { name: 'gone', repo_url: repo.dir })).status).toBe(201);
    const oldId = await projectId(tenant, 'gone');
    expect((await server.request(token, 'PUT', '/v1/projects/gone/secrets/LEFT_BEHIND', { value: secretValue('gone') })).status).toBe(201);
    expect((await server.request(token, 'DELETE', '/v1/projects/gone')).status).toBe(204);
    expect(await server.sandrun.projectSecrets.valuesFor(oldId)).toEqual({});
    expect((await server.request(token, 'POST', '/v1/projects', { name: 'gone', repo_url: repo.dir })).body.secrets).toEqual([]);
    expect((await server.request(token, 'GET', '/v1/projects/gone/secrets')).body).toEqual({ secrets: [] });
  });
});

describe('sandrun secrets', () => {
  it('set reads the value from stdin (one trailing newline dropped), list shows names only, rm removes it', async () => {
    const value = secretValue('cli');
    const set = await sandrun(['secrets', 'set', 'demo', 'CLI_KEY'], `${value}\n`);
    expect(set.code, describeResult(set)).toBe(0);
    expect(set.stdout).toContain('set secret CLI_KEY of project demo');
    expect(await server.sandrun.projectSecrets.valuesFor(await projectId(tenant, 'demo'))).toEqual({ CLI_KEY: value });

    // Only one newline goes: a value that ends in one keeps it when it is piped with another (and \r\n counts as one).
    expect((await sandrun(['secrets', 'set', 'demo', 'CLI_KEY'], 'line\n\r\n')).code).toBe(0);
    expect(await server.sandrun.projectSecrets.valuesFor(await projectId(tenant, 'demo'))).toEqual({ CLI_KEY: 'line\n' });

    const list = await sandrun(['secrets', 'list', 'demo']);
    expect(list.code, describeResult(list)).toBe(0);
    expect(list.stdout).toMatch(/^KEY\s+UPDATED\nCLI_KEY\s+\d{4}-/);
    const json = await sandrun(['secrets', 'list', 'demo', '--json']);
    expect(JSON.parse(json.stdout).secrets.map((secret: { key: string }) => secret.key)).toEqual(['CLI_KEY']);
    const show = await sandrun(['projects', 'show', 'demo']);
    expect(show.stdout).toMatch(/secrets: +CLI_KEY\n/);
    for (const result of [set, list, json, show]) expect(result.stdout + result.stderr).not.toContain(value);

    const rm = await sandrun(['secrets', 'rm', 'demo', 'CLI_KEY']);
    expect(rm.code, describeResult(rm)).toBe(0);
    const missing = await sandrun(['secrets', 'rm', 'demo', 'CLI_KEY']);
    expect(missing.code, describeResult(missing)).toBe(3);
    expect(missing.stderr).toContain("error (not_found): project 'demo' has no secret CLI_KEY");
    expect((await sandrun(['secrets', 'list', 'demo'])).stdout).toContain('project demo has no secrets');
  });

  it('set refuses an empty stdin with a usage error and sends nothing; a refused key is the server’s 400', async () => {
    const empty = await sandrun(['secrets', 'set', 'demo', 'EMPTY_KEY'], '\n');
    expect(empty.code, describeResult(empty)).toBe(2);
    expect(empty.stderr).toContain('the value on standard input is empty');
    const badKey = await sandrun(['secrets', 'set', 'demo', 'lower'], 'value');
    expect(badKey.code, describeResult(badKey)).toBe(3);
    expect(badKey.stderr).toContain('must match ^[A-Z][A-Z0-9_]{0,63}$');
    expect((await server.request(token, 'GET', '/v1/projects/demo/secrets')).body.secrets).toEqual([]);
  });
});
