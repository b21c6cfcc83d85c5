// An image without a shell cannot park on the launcher: its runs take the direct path, with the same contract
// (parameters, identity, logs, exit code, capped outputs, timeout) and hardening, and leave nothing behind.
import Dockerode from 'dockerode';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunOptions, SandboxSpec } from '../../src/sandbox/backend.ts';
import { containersOf, parseDockerRef } from '../../src/sandbox/docker/adoption-ref.ts';
import { DockerBackend } from '../../src/sandbox/docker/docker-backend.ts';
import { buildNoShellImage, buildNoTarImage, removeImage } from '../helpers/no-shell-image.ts';
import { createTestSandbox, DEFAULT_TEST_LIMITS, runtimeAvailable, TEST_SANDBOX_SETTINGS, TEST_SECRETS_DIR, type TestSandbox } from '../helpers/sandbox.ts';

const PROBE = [
  'import json, os, shutil, sys, time',
  'def attempt(path):',
  '    try:',
  '        open(path, "w").write("x")',
  '        return "wrote"',
  '    except OSError as e:',
  '        return "failed: " + e.strerror',
  'seen = {',
  '  "shell": shutil.which("sh"), "params": json.load(open(os.environ["SANDRUN_PARAMETERS"])), "run": os.environ["SANDRUN_RUN_ID"],',
  '  "uid": os.getuid(), "net": sorted(os.listdir("/sys/class/net")), "root_write": attempt("/evil"),',
  '}',
  'open(os.path.join(os.environ["SANDRUN_OUTPUTS"], "seen.json"), "w").write(json.dumps(seen))',
  'print("to stderr", file=sys.stderr)',
  'sum(range(3_000_000)); time.sleep(0.3)',
  'print(json.dumps(seen))',
].join('\n');

const engine = new Dockerode();
const python = (code: string) => ['python3', '-c', code];

let image: string;
beforeAll(() => {
  image = buildNoShellImage('no-shell');
}, 120_000);
afterAll(() => removeImage(image));

for (const runtime of ['runc', 'runsc'] as const) {
  const available = await runtimeAvailable(runtime);
  if (!available) console.warn(`[sandbox.shell-free] runtime ${runtime} is not registered with the engine: its cases are skipped`);

  describe.runIf(available)(`an image without a shell, under ${runtime}`, () => {
    let sandbox: TestSandbox;
    let workspace: string;
    const runIds: string[] = [];
    const run = (overrides: Partial<SandboxSpec> & { command: string[] }, options?: RunOptions) => {
      const runId = randomUUID();
      const labels = { 'sandrun.test': 'true', 'sandrun.tenant': 'shell-free' };
      const spec = sandbox.spec({ runId, image: image, workspaceDir: workspace, env: { SANDRUN_RUN_ID: runId }, labels, ...overrides });
      runIds.push(spec.runId);
      return sandbox.backend.run(spec, options);
    };

    beforeAll(async () => {
      const pool = { maxTotal: 2, maxPerTenant: 2, maxPerTemplate: 1, maxIdleMs: 60_000 };
      sandbox = await createTestSandbox({ runtime, outputsCapBytes: 1024 * 1024, pool });
      workspace = await sandbox.workspace({ 'probe.py': PROBE });
    });
    afterAll(async () => sandbox.cleanup());

    it('runs with its parameters, identity and hardening, and returns its logs, exit code, outputs and usage', async () => {
      for (const attempt of [1, 2]) {
        const result = await run({ command: ['python3', 'probe.py'], parameters: { attempt } });
        expect(result.exitCode, result.stderr.text).toBe(0);
        expect(result.outcome).toEqual({ kind: 'exited' });
        const seen = JSON.parse(result.stdout.text);
        // gVisor checks the permission before the read-only mount.
        const rootWrite = expect.stringMatching(/^failed: (Read-only file system|Permission denied)$/);
        expect(seen).toEqual({ shell: null, params: { attempt }, run: runIds.at(-1), uid: 10001, net: ['lo'], root_write: rootWrite });
        expect(result.stderr.text).toBe('to stderr\n');
        expect(result.outputs).toEqual({ seen });
        expect(result.usage?.cpuSeconds).toBeGreaterThan(0);
        expect(result.usage?.peakMemoryBytes).toBeGreaterThan(1024 * 1024);
      }
    });

    it('reports a failing command’s exit code, and a missing program as 127', async () => {
      const failed = await run({ command: python('import sys; print("bad input", file=sys.stderr); sys.exit(3)') });
      expect(failed).toMatchObject({ outcome: { kind: 'exited' }, exitCode: 3, outputs: {} });
      expect(failed.stderr.text).toBe('bad input\n');
      const missing = await run({ command: ['no-such-program'] });
      expect(missing.exitCode).toBe(127);
      expect(missing.stderr.text).toMatch(/no-such-program/);
    });

    it('ends a command past its timeout as timed_out within a few seconds', async () => {
      const started = Date.now();
      const result = await run({ command: python('import time; time.sleep(600)'), limits: { ...DEFAULT_TEST_LIMITS, timeoutSeconds: 2 } });
      expect(result.outcome).toEqual({ kind: 'timed_out' });
      expect(result.exitCode, 'the command ran: 128 + SIGKILL').toBe(137);
      expect(Date.now() - started, "ended by the timeout, not the sleep").toBeLessThan(30_000);
    });

    it('ends a command that allocates 1 GiB under a 128 MiB limit as oom_killed', async () => {
      const result = await run({ command: python('b = bytearray(1024 * 1024 * 1024)'), limits: { ...DEFAULT_TEST_LIMITS, memoryMb: 128 } });
      expect(result.outcome).toEqual({ kind: 'oom_killed' });
      expect(result.exitCode).toBe(137);
    });

    it('reports outputs over the cap as output_too_large, and a write past the volume fails inside', async () => {
      const code = [
        'import os',
        'open("/outputs/a.json", "w").write("[" + ",".join(["1"] * 400_000) + "]")',
        'try:',
        '    open("/outputs/fill", "wb").write(b"x" * (64 * 1024 * 1024))',
        '    print("wrote 64 MiB")',
        'except OSError as e:',
        '    print("refused:", e.strerror)',
      ].join('\n');
      const result = await run({ command: python(code) });
      expect(result.stdout.text).toBe('refused: No space left on device\n');
      expect(result.outcome.kind).toBe('output_too_large');
    });

    it('reaps an outputs volume a killed server left behind, and leaves another server’s alone', async () => {
      const leftover = (instance: string) =>
        engine.createVolume({ Name: `sandrun-${randomUUID()}-outputs`, Labels: { 'sandrun.managed': 'true', 'sandrun.instance': instance, 'sandrun.run_id': randomUUID() } });
      const ours = await leftover(sandbox.instanceId);
      const theirs = await leftover(`other-${randomUUID()}`);
      try {
        await sandbox.backend.reap(() => false);
        const names = ((await engine.listVolumes()).Volumes ?? []).map((volume) => volume.Name);
        expect(names).not.toContain(ours.name);
        expect(names).toContain(theirs.name);
      } finally {
        await Promise.all([ours, theirs].map((volume) => volume.remove().catch(() => undefined)));
      }
    });

    it('keeps a running run’s container, outputs holder and volume from the reaper of a server that finds its note', async () => {
      // A restarted server on the same engine identity, which has not taken the run over yet: only the note keeps its parts.
      const restarted = new DockerBackend(engine, { ...TEST_SANDBOX_SETTINGS, runsDir: join(tmpdir(), `sandrun-restarted-${randomUUID()}`), secretsDir: TEST_SECRETS_DIR, instanceId: sandbox.instanceId });
      const go = `go-${randomUUID()}`;
      let swept: Promise<string[]> | undefined;
      const hold = `import json, os, time\nwhile not os.path.exists("/workspace/${go}"): time.sleep(0.1)\njson.dump({"kept": True}, open("/outputs/result.json", "w"))`;
      const result = await run(
        { command: python(hold) },
        {
          onStart: (_startedAt, ref) => {
            swept = (async () => {
              try {
                const note = parseDockerRef(ref ?? null);
                if (note?.path !== 'direct') return [`the run's note ${ref} is not a direct one`];
                await restarted.reap(() => false, { keep: [ref!], minAgeMs: 0 });
                const gone = await Promise.all(containersOf(note).map((id) => engine.getContainer(id).inspect().then(() => [], () => [`container ${id.slice(0, 12)}`])));
                const volume = await engine.getVolume(note.volume).inspect().then(() => [], () => [`volume ${note.volume}`]);
                return [...gone.flat(), ...volume];
              } finally {
                await writeFile(join(workspace, go), '');
              }
            })();
          },
        },
      );
      expect(await swept, 'what the reaper removed').toEqual([]);
      expect(result.outcome, result.stderr.text).toEqual({ kind: 'exited' });
      expect(result.outputs).toEqual({ result: { kept: true } });
    });

    it('leaves no container, volume or directory behind, and parks nothing for the image', async () => {
      const deadline = Date.now() + 5_000;
      const left = async () => {
        const containers = await engine.listContainers({ all: true, filters: { label: ['sandrun.test=true'] } });
        const volumes = (await engine.listVolumes()).Volumes ?? [];
        return [
          ...containers.filter((container) => container.Image === image || runIds.some((id) => container.Names.some((name) => name.includes(id)))).map((c) => c.Names[0]),
          ...volumes.filter((volume) => runIds.some((id) => volume.Name.includes(id))).map((volume) => volume.Name),
        ];
      };
      while ((await left()).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await left()).toEqual([]);
      expect(sandbox.backend.poolStats.parked).toBe(0);
    });
  });
}

describe('an image with a shell but no tar', () => {
  let noTar: string;
  let sandbox: TestSandbox;
  beforeAll(async () => {
    noTar = buildNoTarImage('no-tar');
    sandbox = await createTestSandbox({ pool: { maxTotal: 2, maxPerTenant: 2, maxPerTemplate: 1, maxIdleMs: 60_000 } });
  }, 120_000);
  afterAll(async () => {
    await sandbox?.cleanup();
    if (noTar) removeImage(noTar);
  });

  it('takes the direct path from its first run, whose outputs its launcher could not have handed over', async () => {
    const workspace = await sandbox.workspace({});
    for (const n of [1, 2, 3]) {
      const command = python(`import json; json.dump({"n": ${n}}, open("/outputs/result.json", "w")); print("wrote", ${n})`);
      const result = await sandbox.backend.run(sandbox.spec({ image: noTar, command, workspaceDir: workspace, labels: { 'sandrun.test': 'true', 'sandrun.tenant': 'no-tar' } }));
      expect(result.outcome, result.stderr.text).toEqual({ kind: 'exited' });
      expect(result.stdout.text).toBe(`wrote ${n}\n`);
      expect(result.outputs).toEqual({ result: { n } });
    }
    expect(sandbox.backend.poolStats.parked).toBe(0);
  });
});
