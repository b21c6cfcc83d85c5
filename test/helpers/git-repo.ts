// Real git repositories made in temp directories, for tests that register projects.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEMO_DIR = fileURLToPath(new URL('../../examples/demo', import.meta.url));

export class TestRepo {
  readonly dir: string;

  constructor(files: Record<string, string>, options: { branch?: string } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'sandrun-repo-'));
    this.git('init', '-q', '-b', options.branch ?? 'main');
    this.git('config', 'user.email', 'test@sandrun.invalid');
    this.git('config', 'user.name', 'sandrun tests');
    this.commit(files, 'initial');
  }

  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.dir, encoding: 'utf8' }).trim();
  }

  /** Writes the files and commits them; returns the new commit's sha. */
  commit(files: Record<string, string>, message = 'change'): string {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(this.dir, path)), { recursive: true });
      writeFileSync(join(this.dir, path), content);
    }
    this.git('add', '-A');
    this.git('commit', '-q', '-m', message);
    return this.head();
  }

  head(): string {
    return this.git('rev-parse', 'HEAD');
  }

  checkout(branch: string, create = false): void {
    if (create) this.git('checkout', '-q', '-b', branch);
    else this.git('checkout', '-q', branch);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The demo project of the README (examples/demo): two models that read parameters and write outputs. */
export const DEMO_FILES: Record<string, string> = Object.fromEntries(
  ['sandrun.yaml', 'models/revenue.py', 'models/summary.py'].map((file) => [file, readFileSync(join(DEMO_DIR, file), 'utf8')]),
);
