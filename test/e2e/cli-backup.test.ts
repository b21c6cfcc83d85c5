// `sandrun backup PATH` copies the live database consistently: the copy opens, passes integrity_check and holds the rows.
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    server.token('backup-a');
    server.token('backup-b');
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
});
