// What a run sees and gets back from the sandbox, on every backend (backends.ts): streams, parameters, read-only mounts, outputs.
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackendSandbox, eachBackend, type BackendSandbox } from '../helpers/backends.ts';

const python = (code: string) => ['python3', '-c', code];

await eachBackend('sandbox.contract', (kind) => {
  let sandbox: BackendSandbox;
  let workspace: string;

  beforeAll(async () => {
    sandbox = await createBackendSandbox(kind, { outputsCapBytes: 1024 * 1024 });
    workspace = await sandbox.workspace({
      'hello.py': 'import sys\nprint("hello from stdout")\nprint("hello from stderr", file=sys.stderr)\nsys.exit(3)\n',
      'models/params.py': 'import json, os\nprint(open(os.environ["SANDRUN_PARAMETERS"]).read())\n',
    });
  });
  afterAll(async () => sandbox.cleanup());

  describe('the sandbox contract', () => {
    it('runs hello world with separate stdout and stderr, its exit code and a duration', async () => {
      const result = await sandbox.backend.run(sandbox.spec({ command: ['python', 'hello.py'], workspaceDir: workspace }));
      expect(result.exitCode).toBe(3);
      expect(result.outcome).toEqual({ kind: 'exited' });
      expect(result.stdout.text).toBe('hello from stdout\n');
      expect(result.stderr.text).toBe('hello from stderr\n');
      expect(result.stdout.truncated).toBe(false);
      expect(result.durationSeconds).toBeGreaterThan(0);
      expect(result.finishedAt.getTime()).toBeGreaterThanOrEqual(result.startedAt.getTime());
    });

    it('delivers {} as /inputs/parameters.json when no parameters are given', async () => {
      const result = await sandbox.backend.run(sandbox.spec({ command: ['python', 'models/params.py'], workspaceDir: workspace }));
      expect(result.stdout.text.trim()).toBe('{}');
    });

    it('delivers the given parameters as /inputs/parameters.json', async () => {
      const parameters = { discount_rate: 0.08, nested: { list: [1, 2, 3] }, text: 'héllo' };
      const result = await sandbox.backend.run(sandbox.spec({ command: ['python', 'models/params.py'], workspaceDir: workspace, parameters }));
      expect(JSON.parse(result.stdout.text)).toEqual(parameters);
    });

    it('gives the run its identity and the contract paths in the environment', async () => {
      const code = 'import os, json; print(json.dumps({k: os.environ.get(k) for k in ["SANDRUN_RUN_ID", "SANDRUN_PARAMETERS", "SANDRUN_OUTPUTS"]}))';
      const spec = sandbox.spec({ command: python(code), workspaceDir: workspace, env: { SANDRUN_RUN_ID: 'run-123' } });
      const result = await sandbox.backend.run(spec);
      expect(JSON.parse(result.stdout.text)).toEqual({ SANDRUN_RUN_ID: 'run-123', SANDRUN_PARAMETERS: '/inputs/parameters.json', SANDRUN_OUTPUTS: '/outputs' });
    });

    it('runs in /workspace, which cannot be written, and parameters.json cannot be written either', async () => {
      const code = [
        'import os',
        'print(os.getcwd())',
        'for path in ["/workspace/hello.py", "/workspace/new.txt", "/inputs/parameters.json", "/inputs/other.json"]:',
        '    try:',
        '        open(path, "a").write("x")',
        '        print("WROTE", path)',
        '    except OSError as e:',
        '        print("denied", path, e.errno)',
      ].join('\n');
      const result = await sandbox.backend.run(sandbox.spec({ command: python(code), workspaceDir: workspace }));
      expect(result.stdout.text).not.toContain('WROTE');
      expect(result.stdout.text.split('\n')[0]).toBe('/workspace');
      expect(result.stdout.text.match(/denied/g)).toHaveLength(4);
    });

    it('turns two NAME.json files into two outputs', async () => {
      const code = 'import json\njson.dump([100, 110, 121], open("/outputs/revenue.json", "w"))\njson.dump({"ok": True}, open("/outputs/summary.json", "w"))\nopen("/outputs/notes.txt", "w").write("ignored")';
      const result = await sandbox.backend.run(sandbox.spec({ command: python(code), workspaceDir: workspace }));
      expect(result.outcome).toEqual({ kind: 'exited' });
      expect(result.exitCode).toBe(0);
      expect(result.outputs).toEqual({ revenue: [100, 110, 121], summary: { ok: true } });
    });

    it('reports invalid JSON in an output as output_invalid, naming the file', async () => {
      const code = 'open("/outputs/broken.json", "w").write("{not json")';
      const result = await sandbox.backend.run(sandbox.spec({ command: python(code), workspaceDir: workspace }));
      expect(result.exitCode).toBe(0);
      expect(result.outcome.kind).toBe('output_invalid');
      expect(result.outcome.kind === 'output_invalid' && result.outcome.message).toContain('broken.json');
    });

    it('reports outputs over the cap as output_too_large, and the write past the tmpfs fails inside', async () => {
      const code = 'open("/outputs/big.json", "w").write("[" + "1," * (700 * 1024) + "1]")';
      const result = await sandbox.backend.run(sandbox.spec({ command: python(code), workspaceDir: workspace }));
      expect(result.outcome.kind).toBe('output_too_large');
      expect(result.outputs).toEqual({});
      const filler = 'open("/outputs/fill.bin", "wb").write(b"x" * (50 * 1024 * 1024))';
      const hog = await sandbox.backend.run(sandbox.spec({ command: python(filler), workspaceDir: workspace }));
      expect(hog.exitCode).not.toBe(0);
      expect(hog.stderr.text).toMatch(/No space left on device|File too large/);
    });

    it('keeps outputs and exit 0 of a run that interleaves heavy stdout and stderr, each counted to the byte, head and tail kept', async () => {
      const code = [
        'import json, sys',
        'for i in range(50000):\n    sys.stdout.write(f"out {i:06d} " + "o" * 88 + "\\n")\n    sys.stderr.write(f"err {i:06d} " + "e" * 88 + "\\n")',
        'json.dump({"ok": True}, open("/outputs/result.json", "w"))',
      ].join('\n');
      const result = await sandbox.backend.run(sandbox.spec({ command: python(code), workspaceDir: workspace, limits: { timeoutSeconds: 120, memoryMb: 128, cpus: 1, pids: 64 } }));
      expect(result.outcome, JSON.stringify(result.outcome)).toEqual({ kind: 'exited' });
      expect(result.exitCode).toBe(0);
      expect(result.outputs).toEqual({ result: { ok: true } });
      expect([result.stdout.totalBytes, result.stderr.totalBytes]).toEqual([5_000_000, 5_000_000]);
      expect(result.stdout.text.startsWith(`out 000000 ${'o'.repeat(88)}\n`)).toBe(true);
      expect(result.stdout.text.endsWith(`out 049999 ${'o'.repeat(88)}\n`)).toBe(true);
      expect(result.stderr.text.startsWith(`err 000000 ${'e'.repeat(88)}\n`)).toBe(true);
      expect(result.stderr.text.endsWith(`err 049999 ${'e'.repeat(88)}\n`)).toBe(true);
    }, 180_000);

    it('does not follow a symlink in /outputs that points at /etc/passwd', async () => {
      const code = 'import os\nos.symlink("/etc/passwd", "/outputs/passwd.json")\nopen("/outputs/ok.json", "w").write("1")';
      const result = await sandbox.backend.run(sandbox.spec({ command: python(code), workspaceDir: workspace }));
      expect(JSON.stringify(result.outputs)).not.toContain('root:');
      expect(result.outcome.kind).toBe('output_invalid');
      expect(result.outcome.kind === 'output_invalid' && result.outcome.message).toMatch(/passwd\.json is a symlink/);
    });

    it('ends when the command exits, even with a background process holding stdout, which is killed and prints nothing more', async () => {
      const command = ['sh', '-c', '(sleep 60; echo LATE; touch /outputs/late.json) & echo done'];
      const started = Date.now();
      const result = await sandbox.backend.run(sandbox.spec({ command, workspaceDir: workspace }));
      // Far less than the background sleep, with room for a slow machine's start and removal.
      expect((Date.now() - started) / 1000).toBeLessThan(30);
      expect(result.exitCode).toBe(0);
      expect(result.stdout.text).toBe('done\n');
      expect(result.outputs).toEqual({});
    });

    it('passes on output that imitates the launcher’s markers, and keeps the real exit code', async () => {
      const fake = '\x1e' + 'a'.repeat(32);
      const code = `import sys\nsys.stdout.write("${fake}\\n${fake} 0 0\\nafter")\nsys.stderr.write("${fake}\\n")\nsys.exit(4)`;
      const result = await sandbox.backend.run(sandbox.spec({ command: python(code), workspaceDir: workspace }));
      expect(result.exitCode).toBe(4);
      expect(result.stdout.text).toBe(`${fake}\n${fake} 0 0\nafter`);
      expect(result.stderr.text).toBe(`${fake}\n`);
    });

    it('a command that signals its own process group ends with that signal, as a failed run', async () => {
      const result = await sandbox.backend.run(sandbox.spec({ command: ['sh', '-c', 'echo before; kill -TERM 0; sleep 5'], workspaceDir: workspace }));
      expect(result.outcome).toEqual({ kind: 'exited' });
      expect(result.exitCode).toBe(143);
      expect(result.stdout.text).toBe('before\n');
    });

    it('a command that kills every process it may (kill -9 -1, the launcher too) ends as engine_unavailable, its outcome unknown, and leaves no container', async () => {
      const spec = sandbox.spec({ command: ['sh', '-c', 'echo before; kill -9 -1; sleep 5'], workspaceDir: workspace });
      await expect(sandbox.backend.run(spec)).rejects.toMatchObject({ code: 'engine_unavailable', message: expect.stringMatching(/stopped before its command finished/) });
      expect(await sandbox.leftovers(spec.runId)).toEqual([]);
    });

    it('a run cancelled while its command runs reports 137 (128 + SIGKILL); one cancelled before its start, no exit code', async () => {
      const controller = new AbortController();
      const running = await sandbox.backend.run(sandbox.spec({ command: ['sh', '-c', 'echo started; sleep 60'], workspaceDir: workspace }), {
        signal: controller.signal,
        onLog: (_stream, chunk) => chunk.toString().includes('started') && controller.abort(),
      });
      expect(running.outcome).toEqual({ kind: 'cancelled' });
      expect(running.exitCode).toBe(137);
      const never = await sandbox.backend.run(sandbox.spec({ command: ['sh', '-c', 'echo ran'], workspaceDir: workspace }), { signal: AbortSignal.abort() });
      expect(never.outcome).toEqual({ kind: 'cancelled' });
      expect(never.exitCode, 'the command never ran').toBeNull();
      expect(never.stdout.text).toBe('');
    });

    it('a command that is not in the image exits 127 and says so', async () => {
      const result = await sandbox.backend.run(sandbox.spec({ command: ['no-such-program', '--flag'], workspaceDir: workspace }));
      expect(result.exitCode).toBe(127);
      expect(result.stderr.text).toMatch(/no-such-program.*(not found|No such file)/);
    });

    it("names a run's image by the engine's ID, the same one on every backend (data_snapshot_ref's input)", async () => {
      const id = await sandbox.backend.imageId('sandrun/python:3.11');
      expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
      const built = ((await new Dockerode().getImage('sandrun/python:3.11').inspect()) as { Id: string }).Id;
      expect(id, 'the ID of the image as built on this host (swarm nodes load it, keeping its ID)').toBe(built);
    });

    it('reports an image that is not on the engine as image_unavailable', async () => {
      await expect(sandbox.backend.checkImage('sandrun/does-not-exist:1')).rejects.toMatchObject({ code: 'image_unavailable' });
      await expect(sandbox.backend.imageId('sandrun/does-not-exist:1')).rejects.toMatchObject({ code: 'image_unavailable' });
      await expect(
        sandbox.backend.run(sandbox.spec({ image: 'sandrun/does-not-exist:1', command: ['true'], workspaceDir: workspace })),
      ).rejects.toMatchObject({ code: 'image_unavailable' });
    });
  });
});
