// A run's artifacts (SPEC §12): every regular file under /outputs listed with its hash and size, downloadable by REST, CLI and MCP, per tenant, capped, redacted, removed by retention.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACT_PROJECT_FILES, EXPECTED_ARTIFACTS, sha256 } from '../helpers/artifact-files.ts';
import { backendServerEnv, eachBackend } from '../helpers/backends.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));

const expectedListing = () =>
  Object.entries(EXPECTED_ARTIFACTS).map(([path, bytes]) => ({
    path,
    size: bytes.length,
    sha256: sha256(bytes),
    content_type: { png: 'image/png', txt: 'text/plain', json: 'application/json', csv: 'text/csv' }[path.split('.').pop()!],
  }));

const artifactUrl = (server: TestServer, runId: string, path: string) => `${server.url}/v1/runs/${runId}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`;

async function download(server: TestServer, token: string, runId: string, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(artifactUrl(server, runId, path), { headers: { authorization: `Bearer ${token}`, ...headers } });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

await eachBackend('artifacts', (kind) => {
  let server: TestServer;
  let token: string;
  let repo: TestRepo;

  beforeAll(async () => {
    server = await startTestServer(await backendServerEnv(kind));
    token = await server.token(`artifacts-${kind}-${process.pid}`);
    repo = new TestRepo(ARTIFACT_PROJECT_FILES);
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'charts', repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
    repo?.remove();
  });

  it('every regular file under /outputs is listed with its size and sha256, and downloads byte for byte with its type and ETag', async () => {
    const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'charts', model_name: 'charts' });
    expect(run.body.status, JSON.stringify(run.body.error)).toBe('success');
    // The symlink nested/passwd is not kept; result.json is both an output and an artifact.
    expect(run.body.artifacts).toEqual(expectedListing());
    expect(run.body.outputs).toEqual({ result: { revenue: [100, 110, 121] } });
    const got = await server.request(token, 'GET', `/v1/runs/${run.body.run_id}`);
    expect(got.body.artifacts).toEqual(expectedListing());

    for (const [path, bytes] of Object.entries(EXPECTED_ARTIFACTS)) {
      const answer = await download(server, token, run.body.run_id, path);
      expect(answer.status, `GET artifact ${path}`).toBe(200);
      expect(answer.bytes.equals(bytes), `bytes of ${path}`).toBe(true);
      expect(answer.headers.get('etag')).toBe(`"${sha256(bytes)}"`);
      expect(answer.headers.get('content-length')).toBe(String(bytes.length));
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(answer.headers.get('content-security-policy')).toContain('sandbox');
      const notModified = await download(server, token, run.body.run_id, path, { 'if-none-match': `"${sha256(bytes)}"` });
      expect(notModified.status, `conditional GET of ${path}`).toBe(304);
      expect(notModified.bytes.length).toBe(0);
    }
    expect((await download(server, token, run.body.run_id, 'chart.png')).headers.get('content-type')).toBe('image/png');
    expect((await download(server, token, run.body.run_id, 'table.csv')).headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect((await download(server, token, run.body.run_id, 'nested/passwd')).status).toBe(404);
  });
});

describe('artifacts on one server', () => {
  let server: TestServer;
  let token: string;
  let repo: TestRepo;
  let runId: string;
  const clients: Client[] = [];

  const cli = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env: { ...process.env, SANDRUN_URL: server.url, SANDRUN_TOKEN: token, NO_COLOR: '1', ...env }, encoding: 'utf8', timeout: 90_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  async function mcp(bearer: string): Promise<Client> {
    const client = new Client({ name: 'sandrun-artifacts-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${bearer}` } } }));
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    server = await startTestServer({ SANDRUN_OUTPUTS_CAP_BYTES: String(2 * 1024 * 1024) });
    token = await server.token(`artifacts-one-${process.pid}`);
    repo = new TestRepo({
      ...ARTIFACT_PROJECT_FILES,
      'models/huge.py': 'with open("/outputs/huge.bin", "wb") as f:\n    try:\n        f.write(b"x" * (50 * 1024 * 1024))\n    except OSError as error:\n        print("stopped:", error)\n',
      'models/leak.py': [
        'value = open("/run/secrets/API_TOKEN").read()',
        'open("/outputs/leak.txt", "w").write("token=" + value + "\\n")',
        'open("/outputs/leak.png", "wb").write(value.encode())',
        '',
      ].join('\n'),
    });
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'charts', repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'charts', model_name: 'charts' });
    expect(run.body.status, JSON.stringify(run.body.error)).toBe('success');
    runId = run.body.run_id;
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await server?.close();
    repo?.remove();
  });

  it("another tenant gets 404 for a run's artifact, as for an unknown path or run", async () => {
    const other = await server.token(`artifacts-other-${process.pid}`);
    const foreign = await download(server, other, runId, 'chart.png');
    expect(foreign.status, foreign.bytes.toString()).toBe(404);
    expect(JSON.parse(foreign.bytes.toString()).error.code).toBe('not_found');
    expect((await download(server, token, runId, 'missing.txt')).status).toBe(404);
    expect((await download(server, token, 'no-such-run', 'chart.png')).status).toBe(404);
    const noScope = await server.token(`artifacts-one-${process.pid}`, ['projects:read']);
    expect((await download(server, noScope, runId, 'chart.png')).status).toBe(403);
  });

  it('the CLI downloads every artifact into a directory at its path, or one, byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandrun-download-'));
    try {
      const all = await cli(['runs', 'download', runId, '-o', dir]);
      expect(all.code, all.stderr).toBe(0);
      for (const [path, bytes] of Object.entries(EXPECTED_ARTIFACTS)) expect(readFileSync(join(dir, path)).equals(bytes), `downloaded ${path}`).toBe(true);
      expect(existsSync(join(dir, 'nested', 'passwd'))).toBe(false);

      const oneDir = join(dir, 'one');
      const one = await cli(['runs', 'download', runId, 'nested/dir/report.txt', '--output', oneDir]);
      expect(one.code, one.stderr).toBe(0);
      expect(readdirSync(oneDir)).toEqual(['nested']);
      expect(readFileSync(join(oneDir, 'nested/dir/report.txt')).equals(EXPECTED_ARTIFACTS['nested/dir/report.txt']!)).toBe(true);

      const unknown = await cli(['runs', 'download', runId, 'nope.txt', '-o', oneDir]);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toContain('no artifact');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('MCP get_run lists the artifacts, resources/list offers them and resources/read returns their bytes; another tenant is refused', async () => {
    const client = await mcp(token);
    const got = await client.callTool({ name: 'get_run', arguments: { run_id: runId } });
    expect((got.structuredContent as { artifacts: unknown }).artifacts).toEqual(expectedListing());
    const listed = await client.listResources();
    const uris = listed.resources.map((resource) => resource.uri);
    for (const path of Object.keys(EXPECTED_ARTIFACTS)) expect(uris).toContain(`sandrun://runs/${runId}/artifacts/${path}`);
    const png = await client.readResource({ uri: `sandrun://runs/${runId}/artifacts/chart.png` });
    const pngContent = png.contents[0] as { blob: string; mimeType: string };
    expect(pngContent.mimeType).toBe('image/png');
    expect(Buffer.from(pngContent.blob, 'base64').equals(EXPECTED_ARTIFACTS['chart.png']!)).toBe(true);
    const report = await client.readResource({ uri: `sandrun://runs/${runId}/artifacts/nested/dir/report.txt` });
    expect((report.contents[0] as { text: string }).text).toBe(EXPECTED_ARTIFACTS['nested/dir/report.txt']!.toString());

    const stranger = await mcp(await server.token(`artifacts-stranger-${process.pid}`));
    expect((await stranger.listResources()).resources).toEqual([]);
    await expect(stranger.readResource({ uri: `sandrun://runs/${runId}/artifacts/chart.png` })).rejects.toThrow(/not found/);
  });

  it('a 50 MB file over the outputs cap is refused as output_too_large, with no artifacts kept', async () => {
    const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'charts', model_name: 'huge' });
    expect(run.body, JSON.stringify(run.body.error)).toMatchObject({ status: 'failed', error: { code: 'output_too_large' }, artifacts: [] });
    expect((await download(server, token, run.body.run_id, 'huge.bin')).status).toBe(404);
  });

  it('a secret a run writes into a text artifact is stored as ***; a binary image is kept as written', async () => {
    const VALUE = 'artifact-secret-7c1e94';
    const set = await server.request(token, 'PUT', '/v1/projects/charts/secrets/API_TOKEN', { value: VALUE });
    expect(set.status, JSON.stringify(set.body)).toBe(201);
    const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'charts', model_name: 'leak' });
    expect(run.body.status, JSON.stringify(run.body.error)).toBe('success');
    const text = await download(server, token, run.body.run_id, 'leak.txt');
    expect(text.bytes.toString()).toBe('token=***\n');
    expect(run.body.artifacts.find((a: { path: string }) => a.path === 'leak.txt')).toMatchObject({ size: 10, sha256: sha256('token=***\n') });
    expect((await download(server, token, run.body.run_id, 'leak.png')).bytes.toString()).toBe(VALUE);
    await server.request(token, 'DELETE', '/v1/projects/charts/secrets/API_TOKEN');
  });

  it("retention removes a purged run's artifacts and the files no run references any more", async () => {
    const blobFiles = () =>
      readdirSync(join(server.dataDir, 'artifacts'))
        .filter((prefix) => prefix.length === 2)
        .flatMap((prefix) => readdirSync(join(server.dataDir, 'artifacts', prefix)).map((name) => prefix + name));
    for (const bytes of Object.values(EXPECTED_ARTIFACTS)) expect(blobFiles()).toContain(sha256(bytes));
    server.sandrun.database.sqlite!.prepare('UPDATE tenants SET retention_days = 0 WHERE id = ?').run(`artifacts-one-${process.pid}`);
    const report = await server.sandrun.retention.runOnce();
    expect(report.runsPurged).toBeGreaterThan(0);
    const got = await server.request(token, 'GET', `/v1/runs/${runId}`);
    expect(got.body.artifacts).toEqual([]);
    expect((await download(server, token, runId, 'chart.png')).status).toBe(404);
    for (const bytes of Object.values(EXPECTED_ARTIFACTS)) expect(blobFiles(), 'stored files after the purge').not.toContain(sha256(bytes));
    expect(report.artifactFilesRemoved).toBeGreaterThanOrEqual(Object.keys(EXPECTED_ARTIFACTS).length);
  });
});
