// Real git repositories made in temp directories, for tests that register projects.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

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

/** The demo project of the README: two models that read parameters and write outputs. */
export const DEMO_FILES: Record<string, string> = {
  'sandrun.yaml': [
    'image: sandrun/python:3.11',
    'models:',
    '  revenue:',
    '    command: ["python", "models/revenue.py"]',
    '    timeout_seconds: 60',
    '  summary:',
    '    command: ["python", "models/summary.py"]',
    'limits:',
    '  timeout_seconds: 120',
    '  memory_mb: 256',
    '',
  ].join('\n'),
  'models/revenue.py': [
    'import json, os',
    'params = json.load(open(os.environ["SANDRUN_PARAMETERS"]))',
    'rate = float(params.get("growth_rate", 0.1))',
    'revenue = [round(100 * (1 + rate) ** year, 2) for year in range(3)]',
    'json.dump(revenue, open(os.path.join(os.environ["SANDRUN_OUTPUTS"], "revenue.json"), "w"))',
    'print(f"revenue at growth {rate}: {revenue}")',
    '',
  ].join('\n'),
  'models/summary.py': [
    'import json, os',
    'params = json.load(open(os.environ["SANDRUN_PARAMETERS"]))',
    'summary = {"model": os.environ["SANDRUN_MODEL"] or "(project)", "parameters": params}',
    'json.dump(summary, open(os.path.join(os.environ["SANDRUN_OUTPUTS"], "summary.json"), "w"))',
    'print("summary written")',
    '',
  ].join('\n'),
};
