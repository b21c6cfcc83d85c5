// sandrun.yaml: strict validation with file/line/field messages, the models/ convention, and what a run executes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RunLimits } from '../../src/run-limits.ts';
import { SandrunError } from '../../src/errors.ts';
import { parseManifest, resolveManifest, type ResolvedManifest } from '../../src/projects/manifest.ts';
import { planRun } from '../../src/projects/run-plan.ts';
import { DEFAULT_YAML_LIMITS, YamlParser } from '../../src/projects/yaml-parser.ts';

const images = ['sandrun/python:3.11', 'sandrun/node:18'];
const defaultLimits: RunLimits = { timeoutSeconds: 300, memoryMb: 256, cpus: 1, pids: 128 };
const maxLimits: RunLimits = { timeoutSeconds: 600, memoryMb: 1024, cpus: 2, pids: 512 };
const server = { defaultImage: 'sandrun/python:3.11', defaultLimits, maxLimits, minPids: 1 };

const yaml = new YamlParser();
afterAll(() => yaml.close());
const resolved = async (text: string, files: string[] = []): Promise<ResolvedManifest> => resolveManifest(await parseManifest(text, { images, yaml }), files);

async function manifestError(text: string): Promise<SandrunError> {
  try {
    await parseManifest(text, { images, yaml });
  } catch (error) {
    if (error instanceof SandrunError) return error;
    throw error;
  }
  throw new Error(`expected this manifest to be rejected:\n${text}`);
}

describe('parseManifest', () => {
  it('accepts the SPEC example and keeps model order as written', async () => {
    const manifest = await parseManifest(
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
      { images, yaml },
    );
    expect(manifest.image).toBe('sandrun/python:3.11');
    expect(manifest.command).toEqual(['python', 'main.py']);
    expect([...(manifest.models?.keys() ?? [])], 'model order').toEqual(['revenue', '2024', 'alpha']);
    expect(manifest.models?.get('revenue')?.timeout_seconds).toBe(120);
    expect(manifest.models?.get('2024')?.image).toBe('sandrun/node:18');
    expect(manifest.limits).toEqual({ timeout_seconds: 300, memory_mb: 256, cpus: 0.5, pids: 128 });
  });

  it('accepts an empty file as a manifest with every default', async () => {
    expect(await parseManifest('', { images, yaml })).toEqual({});
    expect(await parseManifest('# nothing here\n', { images, yaml })).toEqual({});
  });

  it('rejects an unknown key, naming its line, path and the allowed keys', async () => {
    const error = await manifestError('image: sandrun/python:3.11\nmodels:\n  revenue:\n    command: [python, r.py]\n    timeout: 5\n');
    expect(error.code).toBe('manifest_invalid');
    expect(error.message).toMatch(/^sandrun\.yaml line 5: models\.revenue\.timeout: unknown key \(allowed: command, image, timeout_seconds/);
    expect((await manifestError('image: sandrun/python:3.11\nentrypoint: [x]\n')).message).toBe(
      'sandrun.yaml line 2: entrypoint: unknown key (allowed: image, command, models, limits, environment, network)',
    );
    expect((await manifestError('limits:\n  timeout_seconds: 5\n  disk_mb: 9\n')).message).toMatch(/^sandrun\.yaml line 3: limits\.disk_mb: unknown key/);
  });

  it('rejects wrong types with the line of the field', async () => {
    const text = ['image: sandrun/python:3.11', '', '# models', 'models:', '  other:', '    command: [python, o.py]', '  revenue:', '    command: "python r.py"'].join('\n');
    expect((await manifestError(text)).message).toMatch(/^sandrun\.yaml line 8: models\.revenue\.command: expected an array of strings/);
    expect((await manifestError('command:\n  - python\n  - 3\n')).message).toBe('sandrun.yaml line 3: command[1]: expected a string');
    expect((await manifestError('limits:\n  memory_mb: 1.5\n')).message).toBe('sandrun.yaml line 2: limits.memory_mb: expected a positive integer');
    expect((await manifestError('limits:\n  timeout_seconds: -1\n')).message).toBe('sandrun.yaml line 2: limits.timeout_seconds: expected a positive number');
    expect((await manifestError('- just\n- a list\n')).message).toMatch(/^sandrun\.yaml line 1: expected a mapping/);
  });

  it('says a required model command is missing, at the model line', async () => {
    expect((await manifestError('models:\n  revenue:\n    image: sandrun/python:3.11\n')).message).toBe(
      'sandrun.yaml line 2: models.revenue.command: missing; expected an array of strings, e.g. ["python", "main.py"]',
    );
  });

  it('rejects a model name outside the allowed pattern', async () => {
    expect((await manifestError('models:\n  ok:\n    command: [a]\n  "bad name":\n    command: [b]\n')).message).toMatch(
      /^sandrun\.yaml line 4: models\.bad name: model names must match/,
    );
  });

  it('reports YAML syntax errors with their line', async () => {
    const error = await manifestError('image: sandrun/python:3.11\nmodels:\n  revenue:\n    command: [python, "r.py"\nlimits: {}\n');
    expect(error.code).toBe('manifest_invalid');
    expect(error.message).toMatch(/^sandrun\.yaml line [45]: /);
    expect((await manifestError('image: a\nimage: b\n')).message).toMatch(/^sandrun\.yaml line 2: .*[Uu]nique/);
  });

  it('rejects an image outside the allow-list and names the allowed images', async () => {
    expect((await manifestError('image: ubuntu:latest\n')).message).toBe(
      "sandrun.yaml line 1: image: image 'ubuntu:latest' is not allowed; allowed images: sandrun/python:3.11, sandrun/node:18",
    );
    expect((await manifestError('models:\n  m:\n    command: [x]\n    image: evil/image\n')).message).toMatch(/^sandrun\.yaml line 4: models\.m\.image: image 'evil\/image' is not allowed/);
  });
});

describe('what no manifest may make the parser do', () => {
  it('refuses a billion-laughs alias bomb as manifest_invalid', async () => {
    const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let level = 1; level < 12; level += 1) {
      laughs.push(`${String.fromCharCode(97 + level)}: &${String.fromCharCode(97 + level)} [${Array(9).fill(`*${String.fromCharCode(96 + level)}`).join(',')}]`);
    }
    const error = await manifestError(laughs.join('\n'));
    expect(error.code).toBe('manifest_invalid');
    expect(error.message).toBe('sandrun.yaml is refused: it expands aliases more than 100 times (an alias bomb?)');
  });

  it('refuses nesting deeper than the worker stack as manifest_invalid, and parses the next manifest', async () => {
    expect((await manifestError(`command: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`)).message).toMatch(/^sandrun\.yaml is refused: (it nests too deeply|parsing it took longer)/);
    expect(await parseManifest('command: [python, main.py]\n', { images, yaml })).toEqual({ command: ['python', 'main.py'] });
  });

  it('stops a parse that runs past its time, and starts a new worker for the next one', async () => {
    const limits = { ...DEFAULT_YAML_LIMITS, timeoutMs: 10 };
    const impatient = new YamlParser(limits);
    try {
      // 20,000 keys: hundreds of milliseconds of parsing, far past 10 ms on any machine.
      const slow = await impatient.parse(Array.from({ length: 20_000 }, (_, i) => `key${i}: [a, b]`).join('\n'));
      expect(slow).toEqual({ kind: 'refused', reason: 'parsing it took longer than 0.01 s' });
      limits.timeoutMs = 60_000; // read at each parse: the next one has all the time it needs
      expect(await impatient.parse('a: 1\n')).toMatchObject({ kind: 'parsed', value: new Map([['a', 1]]) });
    } finally {
      await impatient.close();
    }
  });
});

describe('resolveManifest', () => {
  it('without a manifest, makes every models/NAME.py a model run with python', () => {
    const manifest = resolveManifest(null, ['models/sales.py', 'models/__init__.py', 'models/churn.py', 'models/notes.txt', 'models/sub/deep.py']);
    expect([...manifest.models.keys()]).toEqual(['churn', 'sales']);
    expect(manifest.models.get('sales')?.command).toEqual(['python', 'models/sales.py']);
    expect(planRun(manifest, { scope: 'model', modelName: 'sales' }, server).image).toBe('sandrun/python:3.11');
  });

  it('uses the convention when sandrun.yaml has no models key, and only the listed models when it has one', async () => {
    expect([...(await resolved('image: sandrun/node:18\n', ['models/a.py'])).models.keys()]).toEqual(['a']);
    expect(planRun(await resolved('image: sandrun/node:18\n', ['models/a.py']), { scope: 'model', modelName: 'a' }, server).image).toBe('sandrun/node:18');
    expect([...(await resolved('models:\n  b:\n    command: [x]\n', ['models/a.py'])).models.keys()]).toEqual(['b']);
  });
});

describe('planRun', () => {
  it('under gVisor, refuses a pids limit the runtime cannot start a run with, naming the limit, with a 422', async () => {
    const gvisor = { ...server, minPids: 128 };
    const manifest = await resolved('limits:\n  pids: 32\nmodels:\n  a:\n    command: [x]\n  b:\n    command: [y]\n    pids: 128\n');
    let refused: unknown;
    try {
      planRun(manifest, { scope: 'model', modelName: 'a' }, gvisor);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(SandrunError);
    expect((refused as SandrunError).status).toBe(422);
    expect((refused as SandrunError).message).toMatch(/pids 32 is below 128.*gVisor/);
    // A model that asks enough runs; so does every run under runc.
    expect(planRun(manifest, { scope: 'model', modelName: 'b' }, gvisor).limits.pids).toBe(128);
    expect(planRun(manifest, { scope: 'model', modelName: 'a' }, server).limits.pids).toBe(32);
  });

  it('lets model limits override manifest limits, which override server defaults, all capped at the server maximum', async () => {
    const manifest = await resolved('limits:\n  timeout_seconds: 100\n  memory_mb: 9000\nmodels:\n  m:\n    command: [python, m.py]\n    timeout_seconds: 5000\n    cpus: 1.5\n');
    const model = planRun(manifest, { scope: 'model', modelName: 'm' }, server);
    expect(model.limits).toEqual({ timeoutSeconds: 600, memoryMb: 1024, cpus: 1.5, pids: 128 });
    const project = planRun(manifest, { scope: 'project' }, server);
    expect(project.limits, 'project scope ignores per-model limits').toEqual({ timeoutSeconds: 100, memoryMb: 1024, cpus: 1, pids: 128 });
  });

  it("uses a model's own image, else the manifest's, else the server default", async () => {
    const manifest = await resolved('image: sandrun/node:18\nmodels:\n  a:\n    command: [a]\n  b:\n    command: [b]\n    image: sandrun/python:3.11\n');
    expect(planRun(manifest, { scope: 'model', modelName: 'a' }, server)).toMatchObject({ image: 'sandrun/node:18', command: ['a'] });
    expect(planRun(manifest, { scope: 'model', modelName: 'b' }, server).image).toBe('sandrun/python:3.11');
    expect(planRun(await resolved('command: [x]\n'), { scope: 'project' }, server)).toMatchObject({ image: 'sandrun/python:3.11', command: ['x'] });
  });

  it('names the unknown model and lists the models the project has', async () => {
    const manifest = await resolved('models:\n  revenue:\n    command: [a]\n  churn:\n    command: [b]\n');
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

  it('refuses to chain models that need different images in one container', async () => {
    const manifest = await resolved('models:\n  a:\n    command: [a]\n  b:\n    command: [b]\n    image: sandrun/node:18\n');
    expect(() => planRun(manifest, { scope: 'project' }, server)).toThrow(/model 'b' needs image sandrun\/node:18/);
  });
});

describe('a project run without a command', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function runPlanned(models: Array<[string, string[]]>): Promise<{ status: number | null; dir: string }> {
    const text = `models:\n${models.map(([name, command]) => `  ${name}:\n    command: ${JSON.stringify(command)}\n`).join('')}`;
    const plan = planRun(await resolved(text), { scope: 'project' }, server);
    const dir = mkdtempSync(join(tmpdir(), 'sandrun-chain-'));
    dirs.push(dir);
    const [file = '', ...args] = plan.command;
    const result = spawnSync(file, args, { cwd: dir, encoding: 'utf8' });
    return { status: result.status, dir };
  }

  it('runs every model in manifest order, passing tricky arguments through unchanged', async () => {
    const { status, dir } = await runPlanned([
      ['second', ['sh', '-c', 'echo "second $1" >> log', 'sh', "it's; $(rm -rf /) `x` \"q\""]],
      ['first', ['sh', '-c', 'echo first >> log']],
    ]);
    expect(status).toBe(0);
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe("second it's; $(rm -rf /) `x` \"q\"\nfirst\n");
  });

  it('stops at the first failing model and exits with its code', async () => {
    const { status, dir } = await runPlanned([
      ['a', ['touch', 'a ran']],
      ['b', ['sh', '-c', 'exit 3']],
      ['c', ['touch', 'c ran']],
    ]);
    expect(status, 'exit code of the failing model').toBe(3);
    expect(existsSync(join(dir, 'a ran')), 'model a ran').toBe(true);
    expect(existsSync(join(dir, 'c ran')), 'model c after the failure must not run').toBe(false);
  });
});
