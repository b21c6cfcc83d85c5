// sandrun.yaml: strict validation with file/line/field messages, the models/ convention, and what a run executes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunLimits } from '../../src/run-limits.ts';
import { SandrunError } from '../../src/errors.ts';
import { parseManifest, resolveManifest, type ResolvedManifest } from '../../src/projects/manifest.ts';
import { planRun } from '../../src/projects/run-plan.ts';

const images = ['sandrun/python:3.11', 'sandrun/node:18'];
const defaultLimits: RunLimits = { timeoutSeconds: 300, memoryMb: 256, cpus: 1, pids: 128 };
const maxLimits: RunLimits = { timeoutSeconds: 600, memoryMb: 1024, cpus: 2, pids: 512 };
const server = { defaultImage: 'sandrun/python:3.11', defaultLimits, maxLimits };

const resolved = (yaml: string, files: string[] = []): ResolvedManifest => resolveManifest(parseManifest(yaml, { images }), files);

function manifestError(yaml: string): SandrunError {
  try {
    parseManifest(yaml, { images });
  } catch (error) {
    if (error instanceof SandrunError) return error;
    throw error;
  }
  throw new Error(`expected this manifest to be rejected:\n${yaml}`);
}

describe('parseManifest', () => {
  it('accepts the SPEC example and keeps model order as written', () => {
    const manifest = parseManifest(
      [
        'image: sandrun/python:3.11',
        'command: ["python", "main.py"]',
        'models:',
        '  revenue:',
        '    command: ["python", "models/revenue.py"]',
        '    timeout_seconds: 120',
        '  2024:',
        '    command: [python, models/2024.py]',
        '    image: sandrun/node:18',
        '  alpha:',
        '    command: [python, models/alpha.py]',
        'limits:',
        '  timeout_seconds: 300',
        '  memory_mb: 256',
        '  cpus: 0.5',
        '  pids: 128',
      ].join('\n'),
      { images },
    );
    expect(manifest.image).toBe('sandrun/python:3.11');
    expect(manifest.command).toEqual(['python', 'main.py']);
    expect([...(manifest.models?.keys() ?? [])], 'model order').toEqual(['revenue', '2024', 'alpha']);
    expect(manifest.models?.get('revenue')?.timeout_seconds).toBe(120);
    expect(manifest.models?.get('2024')?.image).toBe('sandrun/node:18');
    expect(manifest.limits).toEqual({ timeout_seconds: 300, memory_mb: 256, cpus: 0.5, pids: 128 });
  });

  it('accepts an empty file as a manifest with every default', () => {
    expect(parseManifest('', { images })).toEqual({});
    expect(parseManifest('# nothing here\n', { images })).toEqual({});
  });

  it('rejects an unknown key, naming its line, path and the allowed keys', () => {
    const error = manifestError('image: sandrun/python:3.11\nmodels:\n  revenue:\n    command: [python, r.py]\n    timeout: 5\n');
    expect(error.code).toBe('manifest_invalid');
    expect(error.message).toMatch(/^sandrun\.yaml line 5: models\.revenue\.timeout: unknown key \(allowed: command, image, timeout_seconds/);
    expect(manifestError('image: sandrun/python:3.11\nentrypoint: [x]\n').message).toBe(
      'sandrun.yaml line 2: entrypoint: unknown key (allowed: image, command, models, limits)',
    );
    expect(manifestError('limits:\n  timeout_seconds: 5\n  disk_mb: 9\n').message).toMatch(/^sandrun\.yaml line 3: limits\.disk_mb: unknown key/);
  });

  it('rejects wrong types with the line of the field', () => {
    const yaml = ['image: sandrun/python:3.11', '', '# models', 'models:', '  other:', '    command: [python, o.py]', '  revenue:', '    command: "python r.py"'].join('\n');
    expect(manifestError(yaml).message).toMatch(/^sandrun\.yaml line 8: models\.revenue\.command: expected an array of strings/);
    expect(manifestError('command:\n  - python\n  - 3\n').message).toBe('sandrun.yaml line 3: command[1]: expected a string');
    expect(manifestError('limits:\n  memory_mb: 1.5\n').message).toBe('sandrun.yaml line 2: limits.memory_mb: expected a positive integer');
    expect(manifestError('limits:\n  timeout_seconds: -1\n').message).toBe('sandrun.yaml line 2: limits.timeout_seconds: expected a positive number');
    expect(manifestError('- just\n- a list\n').message).toMatch(/^sandrun\.yaml line 1: expected a mapping/);
  });

  it('says a required model command is missing, at the model line', () => {
    expect(manifestError('models:\n  revenue:\n    image: sandrun/python:3.11\n').message).toBe(
      'sandrun.yaml line 2: models.revenue.command: missing; expected an array of strings, e.g. ["python", "main.py"]',
    );
  });

  it('rejects a model name outside the allowed pattern', () => {
    expect(manifestError('models:\n  ok:\n    command: [a]\n  "bad name":\n    command: [b]\n').message).toMatch(
      /^sandrun\.yaml line 4: models\.bad name: model names must match/,
    );
  });

  it('reports YAML syntax errors with their line', () => {
    const error = manifestError('image: sandrun/python:3.11\nmodels:\n  revenue:\n    command: [python, "r.py"\nlimits: {}\n');
    expect(error.code).toBe('manifest_invalid');
    expect(error.message).toMatch(/^sandrun\.yaml line [45]: /);
    expect(manifestError('image: a\nimage: b\n').message).toMatch(/^sandrun\.yaml line 2: .*[Uu]nique/);
  });

  it('rejects an image outside the allow-list and names the allowed images', () => {
    expect(manifestError('image: ubuntu:latest\n').message).toBe(
      "sandrun.yaml line 1: image: image 'ubuntu:latest' is not allowed; allowed images: sandrun/python:3.11, sandrun/node:18",
    );
    expect(manifestError('models:\n  m:\n    command: [x]\n    image: evil/image\n').message).toMatch(/^sandrun\.yaml line 4: models\.m\.image: image 'evil\/image' is not allowed/);
  });
});

describe('resolveManifest', () => {
  it('without a manifest, makes every models/NAME.py a model run with python', () => {
    const manifest = resolveManifest(null, ['models/sales.py', 'models/__init__.py', 'models/churn.py', 'models/notes.txt', 'models/sub/deep.py']);
    expect([...manifest.models.keys()]).toEqual(['churn', 'sales']);
    expect(manifest.models.get('sales')?.command).toEqual(['python', 'models/sales.py']);
    expect(planRun(manifest, { scope: 'model', modelName: 'sales' }, server).image).toBe('sandrun/python:3.11');
  });

  it('uses the convention when sandrun.yaml has no models key, and only the listed models when it has one', () => {
    expect([...resolved('image: sandrun/node:18\n', ['models/a.py']).models.keys()]).toEqual(['a']);
    expect(planRun(resolved('image: sandrun/node:18\n', ['models/a.py']), { scope: 'model', modelName: 'a' }, server).image).toBe('sandrun/node:18');
    expect([...resolved('models:\n  b:\n    command: [x]\n', ['models/a.py']).models.keys()]).toEqual(['b']);
  });
});

describe('planRun', () => {
  it('lets model limits override manifest limits, which override server defaults, all capped at the server maximum', () => {
    const manifest = resolved('limits:\n  timeout_seconds: 100\n  memory_mb: 9000\nmodels:\n  m:\n    command: [python, m.py]\n    timeout_seconds: 5000\n    cpus: 1.5\n');
    const model = planRun(manifest, { scope: 'model', modelName: 'm' }, server);
    expect(model.limits).toEqual({ timeoutSeconds: 600, memoryMb: 1024, cpus: 1.5, pids: 128 });
    const project = planRun(manifest, { scope: 'project' }, server);
    expect(project.limits, 'project scope ignores per-model limits').toEqual({ timeoutSeconds: 100, memoryMb: 1024, cpus: 1, pids: 128 });
  });

  it("uses a model's own image, else the manifest's, else the server default", () => {
    const manifest = resolved('image: sandrun/node:18\nmodels:\n  a:\n    command: [a]\n  b:\n    command: [b]\n    image: sandrun/python:3.11\n');
    expect(planRun(manifest, { scope: 'model', modelName: 'a' }, server)).toMatchObject({ image: 'sandrun/node:18', command: ['a'] });
    expect(planRun(manifest, { scope: 'model', modelName: 'b' }, server).image).toBe('sandrun/python:3.11');
    expect(planRun(resolved('command: [x]\n'), { scope: 'project' }, server)).toMatchObject({ image: 'sandrun/python:3.11', command: ['x'] });
  });

  it('names the unknown model and lists the models the project has', () => {
    const manifest = resolved('models:\n  revenue:\n    command: [a]\n  churn:\n    command: [b]\n');
    expect(() => planRun(manifest, { scope: 'model', modelName: 'x', projectName: 'p' }, server)).toThrow(
      "model 'x' not found in project 'p'; its models are: revenue, churn",
    );
    expect(() => planRun(resolveManifest(null, []), { scope: 'model', modelName: 'x', projectName: 'p' }, server)).toThrow(
      "model 'x' not found in project 'p'; it has no models",
    );
  });

  it('refuses a project run with neither a command nor models', () => {
    expect(() => planRun(resolveManifest(null, []), { scope: 'project', projectName: 'p' }, server)).toThrow(
      "project 'p' has no command and no models; nothing to run",
    );
  });

  it('refuses to chain models that need different images in one container', () => {
    const manifest = resolved('models:\n  a:\n    command: [a]\n  b:\n    command: [b]\n    image: sandrun/node:18\n');
    expect(() => planRun(manifest, { scope: 'project' }, server)).toThrow(/model 'b' needs image sandrun\/node:18/);
  });
});

describe('a project run without a command', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function runPlanned(models: Array<[string, string[]]>): { status: number | null; dir: string } {
    const yaml = `models:\n${models.map(([name, command]) => `  ${name}:\n    command: ${JSON.stringify(command)}\n`).join('')}`;
    const plan = planRun(resolved(yaml), { scope: 'project' }, server);
    const dir = mkdtempSync(join(tmpdir(), 'sandrun-chain-'));
    dirs.push(dir);
    const [file = '', ...args] = plan.command;
    const result = spawnSync(file, args, { cwd: dir, encoding: 'utf8' });
    return { status: result.status, dir };
  }

  it('runs every model in manifest order, passing tricky arguments through unchanged', () => {
    const { status, dir } = runPlanned([
      ['second', ['sh', '-c', 'echo "second $1" >> log', 'sh', "it's; $(rm -rf /) `x` \"q\""]],
      ['first', ['sh', '-c', 'echo first >> log']],
    ]);
    expect(status).toBe(0);
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe("second it's; $(rm -rf /) `x` \"q\"\nfirst\n");
  });

  it('stops at the first failing model and exits with its code', () => {
    const { status, dir } = runPlanned([
      ['a', ['touch', 'a ran']],
      ['b', ['sh', '-c', 'exit 3']],
      ['c', ['touch', 'c ran']],
    ]);
    expect(status, 'exit code of the failing model').toBe(3);
    expect(existsSync(join(dir, 'a ran')), 'model a ran').toBe(true);
    expect(existsSync(join(dir, 'c ran')), 'model c after the failure must not run').toBe(false);
  });
});
