// The run API's contract for what the code inside does, on every backend (backends.ts): parameters, outputs, usage,
// OOM, a 20 MB flood, a fork bomb, symlinked and oversized outputs, a full /tmp and a heavy but allowed one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendServerEnv, eachBackend } from '../helpers/backends.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const MiB = 1024 * 1024;
/** Room for the 100 MB /tmp model; the full-/tmp model fills exactly this. */
const TMP_MB = 128;

const model = (name: string, command: string[], limits = '') => `  ${name}:\n    command: ${JSON.stringify(command)}\n${limits}`;
const FILES: Record<string, string> = {
  'sandrun.yaml': [
    'image: sandrun/python:3.11',
    'limits:',
    '  timeout_seconds: 60',
    '  memory_mb: 256',
    'models:',
    model('params', ['python3', 'models/params.py']),
    model('oom', ['python3', 'models/oom.py'], '    memory_mb: 64\n'),
    model('flood', ['python3', 'models/flood.py']),
    model('forkbomb', ['bash', 'models/forkbomb.sh'], '    pids: 64\n    timeout_seconds: 10\n'),
    model('symlink', ['python3', 'models/symlink.py']),
    model('toolarge', ['python3', 'models/toolarge.py']),
    model('entries', ['python3', 'models/entries.py']),
    // tmpfs pages count against the run's memory: room for a full /tmp beside python.
    model('tmpfull', ['python3', 'models/tmpfull.py'], '    memory_mb: 512\n'),
    model('tmp100', ['python3', 'models/tmp100.py'], '    memory_mb: 512\n'),
    '',
  ].join('\n'),
  'models/params.py':
    'import json, os\np = json.load(open(os.environ["SANDRUN_PARAMETERS"]))\nprint("got", p["x"])\njson.dump({"doubled": p["x"] * 2, "echo": p}, open("/outputs/result.json", "w"))\n',
  'models/oom.py': 'blocks = []\nfor _ in range(1024): blocks.append(bytearray(1024 * 1024))\nprint("allocated 1 GiB")\n',
  // 20 MB of stdout, then one small output: the outputs must survive the log in front of them.
  'models/flood.py':
    'import json, sys\nsys.stdout.write("FIRST LINE\\n")\nline = "x" * 99 + "\\n"\nfor _ in range(200000): sys.stdout.write(line)\nsys.stdout.write("LAST LINE\\n")\njson.dump({"lines": 200000}, open("/outputs/flood.json", "w"))\n',
  // Counting /proc entries with shell builtins needs no fork, so it works while the bomb holds every pid.
  'models/forkbomb.sh': 'bomb() { bomb | bomb & }; bomb; sleep 3; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo "processes=$n"\n',
  'models/symlink.py': 'import os\nos.symlink("/etc/passwd", "/outputs/passwd.json")\nopen("/outputs/ok.json", "w").write("1")\n',
  'models/toolarge.py': 'open("/outputs/big.json", "w").write("[" + "1," * (5500 * 1024) + "1]")\n',
  'models/entries.py': 'for i in range(1001): open(f"/outputs/e{i}.json", "w").write("1")\n',
  // In 16 MiB files: one file may not pass SANDRUN_FILE_SIZE_MB (64), this is about the /tmp cap.
  'models/tmpfull.py': [
    'import json',
    'written = 0',
    'try:',
    '    for i in range(1000):',
    '        with open(f"/tmp/fill{i}", "wb") as f:',
    '            for _ in range(16):',
    '                f.write(b"x" * 1048576)',
    '                f.flush()',
    '                written += 1',
    'except OSError as e:',
    '    print("tmp full:", e.strerror)',
    'json.dump({"written_mb": written}, open("/outputs/tmp.json", "w"))',
    '',
  ].join('\n'),
  'models/tmp100.py':
    'import json\nfor i in range(10):\n    with open(f"/tmp/big{i}", "wb") as f:\n        for _ in range(10): f.write(b"x" * 1048576)\nprint(json.dumps({"tmp_mb": 100}))\njson.dump({"ok": True}, open("/outputs/small.json", "w"))\n',
};

await eachBackend('run-contract', (kind) => {
  let server: TestServer;
  let token: string;
  let repo: TestRepo;

  beforeAll(async () => {
    server = await startTestServer({ ...(await backendServerEnv(kind)), SANDRUN_TMP_MB: String(TMP_MB) });
    token = await server.token(`contract-${kind}`);
    repo = new TestRepo(FILES);
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'contract', repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
    repo?.remove();
  });

  const run = async (modelName: string, parameters?: Record<string, unknown>) => {
    const answer = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'contract', model_name: modelName, parameters });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body;
  };
  /** The body without its logs, for failure messages that stay readable after a flood. */
  const summary = (body: any) => JSON.stringify({ ...body, stdout: body.stdout?.slice(-300), stderr: body.stderr?.slice(-300) });

  describe('what a run gets back', () => {
    it('parameters go in, outputs come out, and the run reports its usage', async () => {
      const body = await run('params', { x: 21, text: 'héllo' });
      expect(body.status, summary(body)).toBe('success');
      expect(body.stdout).toBe('got 21\n');
      expect(body.outputs).toEqual({ result: { doubled: 42, echo: { x: 21, text: 'héllo' } } });
      expect(body.usage, JSON.stringify(body.usage)).toMatchObject({
        cpu_seconds: expect.any(Number),
        peak_memory_bytes: expect.any(Number),
        wall_seconds: body.duration_seconds,
        output_bytes: expect.any(Number),
      });
      expect(body.usage.cpu_seconds).toBeGreaterThan(0);
      expect(body.usage.peak_memory_bytes).toBeGreaterThan(0);
    });

    it('a run over its memory limit fails with oom_killed', async () => {
      const body = await run('oom');
      expect(body.stdout).not.toContain('allocated 1 GiB');
      expect(body, summary(body)).toMatchObject({ status: 'failed', error: { code: 'oom_killed' } });
    });

    it('a 20 MB stdout flood succeeds, its log truncated with head and tail kept, and its output returned', async () => {
      const body = await run('flood');
      expect(body.status, summary(body)).toBe('success');
      expect(body.exit_code).toBe(0);
      expect(body.stdout_truncated).toBe(true);
      expect(body.stdout.startsWith('FIRST LINE\n'), body.stdout.slice(0, 100)).toBe(true);
      expect(body.stdout.endsWith('LAST LINE\n'), body.stdout.slice(-100)).toBe(true);
      expect(Buffer.byteLength(body.stdout)).toBeLessThan(2 * MiB);
      expect(body.outputs).toEqual({ flood: { lines: 200000 } });
    });

    it('a fork bomb is held at its pids limit and ends; the next run works', async () => {
      const started = Date.now();
      const body = await run('forkbomb');
      expect((Date.now() - started) / 1000, 'ended by its 10 s timeout at the latest').toBeLessThan(40);
      const counted = /processes=(\d+)/.exec(body.stdout);
      if (counted) expect(Number(counted[1])).toBeLessThanOrEqual(64);
      else expect(body.status, summary(body)).not.toBe('success');
      const next = await run('params', { x: 1 });
      expect(next.status, summary(next)).toBe('success');
    });
  });

  describe('outputs the server refuses', () => {
    it('a symlink in /outputs (to /etc/passwd) is not followed: output_invalid naming it', async () => {
      const body = await run('symlink');
      expect(JSON.stringify(body.outputs)).not.toContain('root:');
      expect(body, summary(body)).toMatchObject({ status: 'failed', error: { code: 'output_invalid' } });
      expect(body.error.message).toMatch(/passwd\.json is a symlink/);
    });

    it('outputs over the cap: output_too_large, and no outputs', async () => {
      const body = await run('toolarge');
      expect(body, summary(body)).toMatchObject({ status: 'failed', error: { code: 'output_too_large' }, outputs: {} });
    });

    it('more entries in /outputs than allowed: output_too_large naming the limit', async () => {
      const body = await run('entries');
      expect(body, summary(body)).toMatchObject({ status: 'failed', error: { code: 'output_too_large' } });
      expect(body.error.message).toMatch(/more than 1000 entries/);
    });
  });

  describe('/tmp', () => {
    it(`a run that fills /tmp sees "No space left on device" at its ${TMP_MB} MiB cap and still returns its output`, async () => {
      const body = await run('tmpfull');
      expect(body.status, summary(body)).toBe('success');
      expect(body.stdout).toBe('tmp full: No space left on device\n');
      expect(body.outputs.tmp.written_mb).toBeGreaterThanOrEqual(TMP_MB - 8);
      expect(body.outputs.tmp.written_mb).toBeLessThanOrEqual(TMP_MB);
    });

    it('a run that writes 100 MB to /tmp, prints one line of JSON and writes one small output succeeds with it', async () => {
      const body = await run('tmp100');
      expect(body, summary(body)).toMatchObject({ status: 'success', exit_code: 0, stdout: '{"tmp_mb": 100}\n', outputs: { small: { ok: true } } });
    });
  });
});
