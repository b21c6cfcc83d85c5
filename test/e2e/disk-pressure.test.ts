// A nearly full data disk: a clear 503 disk_full, runs are not started, and the database stays intact.
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const canMount = process.getuid?.() === 0;
if (!canMount) console.warn('[disk-pressure] not root: cannot mount a small tmpfs as the data disk; skipped');

describe.runIf(canMount)('disk pressure', () => {
  let mountPoint: string;
  let dataDir: string;
  let server: TestServer;
  let token: string;
  let repo: TestRepo;

  beforeAll(async () => {
    mountPoint = mkdtempSync(join(tmpdir(), 'sandrun-small-disk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mountPoint]);
    dataDir = join(mountPoint, 'data');
    mkdirSync(dataDir);
    repo = new TestRepo({ 'models/hello.py': 'print("hello")\n' });
    server = await startTestServer({ SANDRUN_MIN_FREE_MB: '16' }, { dataDir });
    token = await server.token('disk');
    expect((await server.request(token, 'POST', '/v1/projects', { name: 'disk', repo_url: repo.dir })).status).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
    repo.remove();
  });

  const hello = (mode: string) => server.request(token, 'POST', '/v1/runs', { scope: 'model', mode, project_name: 'disk', model_name: 'hello' });

  it('refuses runs with a clear disk_full while the disk is nearly full, and runs again once space is freed', async () => {
    expect((await hello('sync')).body.status).toBe('success');
    const stats = statfsSync(dataDir);
    const filler = join(mountPoint, 'filler');
    writeFileSync(filler, Buffer.alloc(Math.max(0, stats.bavail * stats.bsize - 8 * 1024 * 1024)));
    for (const mode of ['sync', 'async']) {
      const refused = await hello(mode);
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('disk_full');
      expect(refused.body.error.message).toMatch(/MiB free, below the 16 MiB floor/);
    }
    rmSync(filler);
    expect((await hello('sync')).body).toMatchObject({ status: 'success', run_number: 2 });
  });

  it('leaves a database that passes integrity_check', async () => {
    await server.close();
    const db = new Database(join(dataDir, 'sandrun.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.prepare("SELECT COUNT(*) AS n FROM runs WHERE status IN ('pending', 'running')").get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
    server = undefined as unknown as TestServer;
  });
});
