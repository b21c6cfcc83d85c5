// `sandrun runs download`: where an artifact is written under DIR, and the paths it refuses whatever the server says.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { artifactTarget } from '../../src/cli/actions/run-download.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function root(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sandrun-download-unit-'));
  dirs.push(dir);
  return dir;
}

describe('artifactTarget', () => {
  it('puts an artifact at its path under DIR, making its directories', async () => {
    const dir = root();
    expect(await artifactTarget(dir, 'nested/dir/report.txt')).toBe(join(dir, 'nested', 'dir', 'report.txt'));
  });

  it.each(['../escape.txt', 'nested/../../escape.txt', '/etc/passwd', '..', ''])('refuses %j, which leads outside DIR', async (path) => {
    await expect(artifactTarget(root(), path)).rejects.toThrow(/leads outside/);
  });

  it('refuses a path through a directory under DIR that links elsewhere', async () => {
    const dir = root();
    const elsewhere = root();
    mkdirSync(join(dir, 'sub'));
    symlinkSync(elsewhere, join(dir, 'sub', 'out'));
    await expect(artifactTarget(dir, 'sub/out/file.txt')).rejects.toThrow(/leads outside/);
  });
});
