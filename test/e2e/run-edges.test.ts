// A run's result and the host it leaves behind, at the edges, on every backend (backends.ts): a timed-out run's exit code, outputs named like
// Object.prototype's members, and a data directory other host users cannot read.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendServerEnv, eachBackend } from '../helpers/backends.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const MANIFEST = [
  'image: sandrun/python:3.11',
  'models:',
  '  sleeper:',
  '    command: ["python3", "-c", "import time; print(\'sleeping\', flush=True); time.sleep(600)"]',
  '    timeout_seconds: 2',
  '  proto:',
  '    command: ["python3", "proto.py"]',
  '  params:',
  '    command: ["python3", "-c", "import json; print(json.load(open(\'/inputs/parameters.json\'))[\'secret\'])"]',
  '',
].join('\n');
const PROTO = 'import json\nfor name in ["__proto__", "constructor", "toString"]:\n    json.dump({"name": name}, open(f"/outputs/{name}.json", "w"))\n';

await eachBackend('run-edges', (kind) => {
  let root: string;
  let dataDir: string;
  let server: TestServer;
  let token: string;
  let repo: TestRepo;

  beforeAll(async () => {
    // An operator's `mkdir /var/lib/sandrun`: readable by everyone until the server says otherwise.
    root = mkdtempSync(join(tmpdir(), 'sandrun-edges-'));
    chmodSync(root, 0o755);
    dataDir = join(root, 'data');
    spawnSync('mkdir', ['-m', '0755', dataDir]);
    server = await startTestServer(await backendServerEnv(kind), { dataDir });
    token = await server.token('edges');
    repo = new TestRepo({ 'sandrun.yaml': MANIFEST, 'proto.py': PROTO });
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'edges', repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
    repo?.remove();
  });

  const run = (modelName: string, parameters?: unknown) =>
    server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'edges', model_name: modelName, ...(parameters ? { parameters } : {}) });

  describe('run results', () => {
    it('a sync run past its 2 s timeout is timed_out with the exit code of the kill (the process ran) and error timeout', async () => {
      const { status, body } = await run('sleeper');
      expect(status, JSON.stringify(body)).toBe(200);
      expect(body).toMatchObject({ status: 'timed_out', error: { code: 'timeout' }, stdout: 'sleeping\n' });
      expect([137, 143], `exit_code ${body.exit_code}: 128 + SIGKILL or SIGTERM`).toContain(body.exit_code);
    });

    it('outputs named __proto__, constructor and toString come back as ordinary keys', async () => {
      const { body } = await run('proto');
      expect(body.status, JSON.stringify(body)).toBe('success');
      expect(Object.keys(body.outputs).sort()).toEqual(['__proto__', 'constructor', 'toString']);
      expect(Object.getOwnPropertyDescriptor(body.outputs, '__proto__')?.value).toEqual({ name: '__proto__' });
      const again = await server.request(token, 'GET', `/v1/runs/${body.run_id}`);
      expect(Object.keys(again.body.outputs).sort(), 'as stored').toEqual(['__proto__', 'constructor', 'toString']);
    });
  });

  describe('the data directory', () => {
    it('has no permission bits for other users (nor its checkouts, mirrors and runs), and runs still read their code and parameters', async () => {
      const { body } = await run('params', { secret: 'tenant-secret-42' });
      expect(body, JSON.stringify(body)).toMatchObject({ status: 'success', stdout: 'tenant-secret-42\n' });
      const modes = Object.fromEntries(
        ['.', 'runs', 'checkouts', 'mirrors'].filter((name) => existsSync(join(dataDir, name))).map((name) => [name, (statSync(join(dataDir, name)).mode & 0o777).toString(8)]),
      );
      expect(modes).toEqual({ '.': '700', runs: '700', checkouts: '700', mirrors: '700' });

      if (process.getuid?.() !== 0) return; // only root can act as another user
      const checkout = join(dataDir, 'checkouts');
      const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'find', checkout, '-name', 'proto.py'], { encoding: 'utf8' });
      expect(asNobody.status, 'another host user cannot enter the data directory').not.toBe(0);
      expect(asNobody.stderr).toMatch(/Permission denied/);
      expect(readdirSync(checkout).length, 'the checkout is there for the server').toBeGreaterThan(0);
    });
  });
});
