// `sandrun backup PATH` copies the live database consistently: the copy opens, passes integrity_check and holds the rows.
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const execFileAsync = promisify(execFile);
let server: TestServer;
let out: string;

beforeAll(async () => {
  server = await startTestServer();
  out = mkdtempSync(join(tmpdir(), 'sandrun-backup-'));
});
afterAll(async () => {
  await server.close();
  rmSync(out, { recursive: true, force: true });
});

describe('sandrun backup', () => {
  it('copies the database while the server runs', async () => {
    await server.token('backup-a');
    await server.token('backup-b');
    const target = join(out, 'copy.db');
    const { stdout } = await execFileAsync(process.execPath, ['bin/sandrun.js', 'backup', target, '--json'], { env: { ...process.env, SANDRUN_DATA_DIR: server.dataDir } });
    expect(JSON.parse(stdout)).toMatchObject({ path: target });
    const copy = new Database(target, { readonly: true });
    try {
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      expect((copy.prepare('SELECT COUNT(*) AS n FROM tokens').get() as { n: number }).n).toBe(2);
    } finally {
      copy.close();
    }
  });

  it('with --artifacts, copies the runs\' files the copy names into a directory, and only new ones on the next backup', async () => {
    const token = await server.token('backup-files');
    const repo = new TestRepo({ 'models/report.py': 'import os\nopen(os.path.join(os.environ["SANDRUN_OUTPUTS"], "report.txt"), "w").write("quarterly\\n")\n' });
    try {
      expect((await server.request(token, 'POST', '/v1/projects', { name: 'reports', repo_url: repo.dir })).status).toBe(201);
      const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'reports', model_name: 'report' });
      expect(run.body.status, JSON.stringify(run.body)).toBe('success');
      const [artifact] = run.body.artifacts;
      expect(artifact).toMatchObject({ path: 'report.txt', sha256: createHash('sha256').update('quarterly\n').digest('hex') });
      const files = join(out, 'artifacts');
      const backupWith = async (name: string) =>
        JSON.parse((await execFileAsync(process.execPath, ['bin/sandrun.js', 'backup', join(out, name), '--artifacts', files, '--json'], { env: { ...process.env, SANDRUN_DATA_DIR: server.dataDir } })).stdout);
      expect((await backupWith('first.db')).artifacts).toMatchObject({ copied: 1, present: 0, missing: 0 });
      expect(readFileSync(join(files, artifact.sha256.slice(0, 2), artifact.sha256.slice(2)), 'utf8'), 'the file in the backup').toBe('quarterly\n');
      expect((await backupWith('second.db')).artifacts, 'a second backup into the same directory').toMatchObject({ copied: 0, present: 1, missing: 0 });
    } finally {
      repo.remove();
    }
  });
});
