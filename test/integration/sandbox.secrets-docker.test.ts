// A run's secrets on the Docker engine, on each of its paths (cold, warm, direct): delivered, and written to no disk and no container configuration.
import Dockerode from 'dockerode';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSpec } from '../../src/sandbox/backend.ts';
import { SandrunError } from '../../src/errors.ts';
import { INSTANCE_LABEL } from '../../src/sandbox/labels.ts';
import { REDACTED } from '../../src/sandbox/redaction.ts';
import { buildNoShellImage, removeImage } from '../helpers/no-shell-image.ts';
import { TEST_SECRETS_DIR, createTestSandbox, type TestSandbox } from '../helpers/sandbox.ts';
import { API_TOKEN, PRINT_MODEL, PROBE_MODEL, PROBE_SECRETS, type ProbeReport } from '../helpers/secret-models.ts';

const TMPFS_MAGIC = 0x01021994;
const VALUE_BYTES = [Buffer.from(API_TOKEN), Buffer.from(Buffer.from(API_TOKEN).toString('base64'))];

let root: string;
let runsDir: string;
let sandbox: TestSandbox;
let workspace: string;
const docker = new Dockerode();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sandrun-secrets-'));
  runsDir = join(root, 'runs');
  sandbox = await createTestSandbox({ runsDir, pool: { maxTotal: 4, maxPerTenant: 4, maxPerTemplate: 1, maxIdleMs: 60_000 } });
  workspace = await sandbox.workspace({
    'probe.py': PROBE_MODEL,
    'print.py': PRINT_MODEL,
    // Holds the value in /tmp and /outputs (both tmpfs) and on stdout, then waits while the test looks at the host.
    'hold.py': [
      'import os, sys, time',
      'v = open("/run/secrets/API_TOKEN").read()',
      'open("/tmp/copy", "w").write(v)',
      'open("/outputs/copy.txt", "w").write(v)',
      'print(v, flush=True)',
      'deadline = time.time() + 60',
      'while not os.path.exists("/workspace/" + sys.argv[1]) and time.time() < deadline:',
      '    time.sleep(0.05)',
    ].join('\n'),
  });
});
afterAll(async () => {
  await sandbox.cleanup();
  await rm(root, { recursive: true, force: true });
});

const instanceSecrets = () => join(TEST_SECRETS_DIR, sandbox.instanceId);

function specOf(command: string[], overrides: Partial<SandboxSpec> = {}): SandboxSpec {
  return sandbox.spec({ command, workspaceDir: workspace, secrets: PROBE_SECRETS, labels: { 'sandrun.test': 'true', 'sandrun.tenant': 't-secrets' }, ...overrides });
}

function reportOf(stdout: string): ProbeReport {
  const line = stdout.split('\n').find((l) => l.startsWith('REPORT '));
  if (!line) throw new Error(`no report in ${stdout}`);
  return JSON.parse(line.slice('REPORT '.length)) as ProbeReport;
}

function expectDelivered(stdout: string, path: string): void {
  const seen = reportOf(stdout);
  expect(seen.sha256, `${path}: the file holds the value`).toBe(createHash('sha256').update(API_TOKEN).digest('hex'));
  expect({ mode: seen.mode, uid: seen.uid, envHasValue: seen.envHasValue }, path).toEqual({ mode: '0o400', uid: 10001, envHasValue: false });
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await condition()); await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
  }
}

/** Every regular file under `dir` that holds the value (or its base64). */
async function filesHoldingValue(dir: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const bytes = await readFile(path).catch(() => Buffer.alloc(0));
    if (VALUE_BYTES.some((value) => bytes.includes(value))) found.push(path);
  }
  return found;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => !entry.isDirectory()).map((entry) => join(entry.parentPath, entry.name));
}

describe('secrets on the Docker engine', () => {
  it('a cold start and a warm-pool hit both deliver them; a parked container holds none before its run', async () => {
    const labels = { 'sandrun.test': 'true', 'sandrun.tenant': 't-secrets', 'sandrun.case': randomUUID() };
    const before = { ...sandbox.backend.poolStats };
    const cold = await sandbox.backend.run(specOf(['python3', 'probe.py'], { labels }));
    expect(sandbox.backend.poolStats.misses, 'the first run starts cold').toBe(before.misses + 1);
    expectDelivered(cold.stdout.text, 'cold');
    await until(() => sandbox.backend.poolStats.parked >= 1, 'a container parked for the next run with secrets');
    // The cold run's directory goes with its container, just after its result; the parked one's stays, empty.
    await until(async () => (await filesUnder(instanceSecrets())).length === 0, 'parked containers have empty secrets directories');
    expect((await readdir(instanceSecrets())).length, 'the parked container’s directory').toBeGreaterThanOrEqual(1);
    const warm = await sandbox.backend.run(specOf(['python3', 'probe.py'], { labels }));
    expect(sandbox.backend.poolStats.hits, 'the second run is a warm hit').toBe(before.hits + 1);
    expectDelivered(warm.stdout.text, 'warm');
  });

  it('the value is on no disk: the mount’s source is a tmpfs, and neither the run’s host directory nor its container’s layer or configuration holds it', async () => {
    const go = `go-${randomUUID()}`;
    let looked: Promise<void> | undefined;
    const spec = specOf(['python3', 'hold.py', go]);
    const result = await sandbox.backend.run(spec, {
      onStart: () => {
        looked = (async () => {
          try {
            const listed = await docker.listContainers({ all: true, filters: { label: [`${INSTANCE_LABEL}=${sandbox.instanceId}`] } });
            const infos = await Promise.all(listed.map((c) => docker.getContainer(c.Id).inspect()));
            const withSecrets = infos.filter((info) => info.Mounts.some((m) => m.Destination === '/run/secrets'));
            expect(withSecrets.length, 'the run’s container mounts /run/secrets').toBeGreaterThan(0);
            for (const info of infos) {
              const configuration = JSON.stringify({ env: info.Config.Env, labels: info.Config.Labels, cmd: info.Config.Cmd, mounts: info.Mounts, binds: info.HostConfig.Binds });
              expect(configuration, `${info.Name}'s configuration`).not.toContain(API_TOKEN);
              const upper = (info.GraphDriver.Data as { UpperDir?: string } | null)?.UpperDir;
              if (upper) expect(await filesHoldingValue(upper), `${info.Name}'s layer`).toEqual([]);
              const changes = ((await docker.getContainer(info.Id).changes()) ?? []) as { Path: string }[];
              expect(changes.map((c) => c.Path).filter((path) => path.startsWith('/run/secrets/')), `${info.Name}: docker diff`).toEqual([]);
              const mount = info.Mounts.find((m) => m.Destination === '/run/secrets');
              if (!mount) continue;
              expect(mount.RW, 'mounted read-only').toBe(false);
              expect((await statfs(mount.Source)).type, `${mount.Source} is a tmpfs`).toBe(TMPFS_MAGIC);
            }
            expect(await filesHoldingValue(runsDir), 'the runs directory').toEqual([]);
          } finally {
            await writeFile(join(workspace, go), '');
          }
        })();
      },
    });
    await looked;
    expect(result.exitCode, result.stderr.text).toBe(0);
    expect(result.stdout.text).toBe(`${REDACTED}\n`);
  });

  it('the secrets directory goes with the container: nothing of a value is left on the host after the runs', async () => {
    await sandbox.backend.run(specOf(['python3', 'probe.py']));
    await until(async () => (await filesUnder(instanceSecrets())).length === 0, `no file left under ${instanceSecrets()}`);
  });

  it('a secrets directory that is not on a tmpfs is refused before anything is written', async () => {
    const onDisk = join(root, 'secrets-on-disk');
    const misplaced = await createTestSandbox({ secretsDir: onDisk });
    try {
      const run = misplaced.backend.run(misplaced.spec({ command: ['python3', '-c', 'print(1)'], workspaceDir: workspace, secrets: PROBE_SECRETS }));
      await expect(run).rejects.toThrow(SandrunError);
      await expect(run).rejects.toThrow(/SANDRUN_RUN_SECRETS_DIR .* is not on a tmpfs/);
      expect(await filesUnder(onDisk)).toEqual([]);
    } finally {
      await misplaced.cleanup();
    }
  });

  it('a launcher run keeps copies in memory for adoption (its note says so), and one that leaves a process holding its output open still ends, with its output and exit code', async () => {
    let note: string | undefined;
    const started = Date.now();
    const script = 'echo before; echo "err $(cat /run/secrets/API_TOKEN)" >&2; (sleep 120; echo late) & exit 4';
    const result = await sandbox.backend.run(specOf(['sh', '-c', script]), { onStart: (_at, ref) => (note = ref) });
    expect({ exitCode: result.exitCode, stdout: result.stdout.text, stderr: result.stderr.text }).toEqual({ exitCode: 4, stdout: 'before\n', stderr: `err ${REDACTED}\n` });
    // The copies wait a few seconds for the process left behind, then it is killed as before: not its 120 s.
    expect(Date.now() - started, 'the run’s wall time in ms').toBeLessThan(60_000);
    expect(JSON.parse(note ?? '{}')).toMatchObject({ path: 'launcher', kept: 'memory' });
  });

  it('a run with secrets that floods stdout past its in-memory copy’s cap keeps its live result (head and tail) and its exit code', async () => {
    const script = 'import sys\nfor i in range(200000): print("flood line", i)\nprint("the end")\nsys.exit(5)\n';
    const result = await sandbox.backend.run(specOf(['python3', '-c', script]));
    expect(result.exitCode, result.stderr.text).toBe(5);
    expect(result.stderr.text, 'nothing about the full copy reaches the run’s stderr').toBe('');
    expect(result.stdout.truncated).toBe(true);
    expect(result.stdout.text.startsWith('flood line 0\n')).toBe(true);
    expect(result.stdout.text.endsWith('flood line 199999\nthe end\n')).toBe(true);
  });

  describe('on the direct path (an image without a shell)', () => {
    let image: string;
    beforeAll(() => {
      image = buildNoShellImage('secrets');
    });
    afterAll(() => removeImage(image));

    it('delivers them and redacts what the run prints and outputs', async () => {
      const probe = await sandbox.backend.run(specOf(['python3', 'probe.py'], { image }));
      expect(probe.exitCode, probe.stderr.text).toBe(0);
      expectDelivered(probe.stdout.text, 'direct');
      const printed = await sandbox.backend.run(specOf(['python3', 'print.py'], { image }));
      expect(printed.stdout.text).not.toContain(API_TOKEN);
      expect(printed.stdout.text.split('\n')).toContain(`plain ${REDACTED}`);
      expect(printed.outputs).toMatchObject({ leak: { token: REDACTED } });
      await until(async () => (await filesUnder(instanceSecrets())).length === 0, 'the direct run’s secrets directory removed');
    });
  });
});
