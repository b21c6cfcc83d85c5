// A project's secrets in its runs, end to end through the API (SPEC §10): the file the run reads, `***` wherever the
// value would come back (the result, its live log, its outputs), and nowhere in the database or another tenant's runs.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const VALUE = 'sk-live-7Hq2xW9pL4vN8rT3';

const MODEL = [
  'import base64, json, sys, urllib.parse',
  'value = open("/run/secrets/API_TOKEN").read()',
  'print("plain", value)',
  'print("b64", base64.b64encode(value.encode()).decode())',
  'print("url", urllib.parse.quote(value))',
  'sys.stdout.write("split " + value[:6]); sys.stdout.flush()',
  'sys.stdout.write(value[6:] + "\\n"); sys.stdout.flush()',
  'print("stderr", value, file=sys.stderr)',
  'json.dump({"token": value, value: 1}, open("/outputs/leak.json", "w"))',
  'print("length", len(value))',
  '',
].join('\n');

describe('secrets in runs', () => {
  let server: TestServer;
  let token: string;
  let other: string;
  const repos: TestRepo[] = [];

  const register = async (bearer: string) => {
    const repo = new TestRepo({ 'models/leak.py': MODEL, 'models/look.py': 'import os\nprint(os.path.exists("/run/secrets/API_TOKEN"))\n' });
    repos.push(repo);
    expect((await server.request(bearer, 'POST', '/v1/projects', { name: 'vault', repo_url: repo.dir })).status).toBe(201);
  };

  beforeAll(async () => {
    server = await startTestServer();
    token = await server.token('holder');
    other = await server.token('neighbour');
    await register(token);
    await register(other);
    const set = await server.request(token, 'PUT', '/v1/projects/vault/secrets/API_TOKEN', { value: VALUE });
    expect(set.status, JSON.stringify(set.body)).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
    for (const repo of repos) repo.remove();
  });

  it('a run reads its project secret at /run/secrets/KEY, and every form of it that comes back is ***', async () => {
    for (const attempt of ['cold', 'warm']) {
      const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'vault', model_name: 'leak' });
      expect(run.body.status, `${attempt}: ${JSON.stringify(run.body)}`).toBe('success');
      expect(run.body.stdout).toContain(`length ${VALUE.length}\n`);
      expect(run.body.stdout).toBe(`plain ***\nb64 ***\nurl ***\nsplit ***\nlength ${VALUE.length}\n`);
      expect(run.body.stderr).toBe('stderr ***\n');
      expect(run.body.outputs).toEqual({ leak: { token: '***', '***': 1 } });
      const stored = JSON.stringify(await server.request(token, 'GET', `/v1/runs/${run.body.run_id}`));
      expect(stored).not.toContain(VALUE);
      const request = await server.request(token, 'GET', `/v1/runs/${run.body.run_id}/request`);
      expect(JSON.stringify(request.body)).not.toContain(VALUE);
    }
  });

  it('the live log of a run never carries the value', async () => {
    const receipt = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'vault', model_name: 'leak' });
    expect(receipt.status).toBe(202);
    const response = await fetch(`${server.url}/v1/runs/${receipt.body.run_id}/logs?follow=1`, { headers: { authorization: `Bearer ${token}` } });
    const events = await response.text();
    expect(events).toContain('***');
    expect(events).not.toContain(VALUE);
    expect(events).not.toContain(Buffer.from(VALUE).toString('base64'));
  });

  it("another tenant's project of the same name has no secret, and the database holds no plaintext", async () => {
    const theirs = await server.request(other, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'vault', model_name: 'look' });
    expect(theirs.body.status, JSON.stringify(theirs.body)).toBe('success');
    expect(theirs.body.stdout).toBe('False\n');
    server.sandrun.database.sqlite!.pragma('wal_checkpoint(FULL)');
    for (const file of ['sandrun.db', 'sandrun.db-wal']) {
      const path = join(server.dataDir, file);
      if (existsSync(path)) expect(readFileSync(path).includes(VALUE), `${file} holds the value`).toBe(false);
    }
  });
});
