// Hostile code in the sandbox: every limit of SPEC §3 holds, on every backend (backends.ts), under runc and (where installed) gVisor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackendSandbox, eachBackend, type BackendKind, type BackendSandbox } from '../helpers/backends.ts';
import { runtimeAvailable } from '../helpers/sandbox.ts';

const python = (code: string) => ['python3', '-c', code];

const runscRegistered = await runtimeAvailable('runsc');
/** The test cluster's nodes register no gVisor (scripts/swarm/layout.ts): on the swarm it is a node's default runtime, not a run's choice. */
const runtimesOf = (kind: BackendKind) => (kind === 'docker' ? (['runc', 'runsc'] as const) : (['runc'] as const));

await eachBackend('sandbox.hostile', (kind) => {
  for (const runtime of runtimesOf(kind)) {
    const available = runtime === 'runc' || runscRegistered;
    if (!available) console.warn(`[sandbox.hostile] runtime ${runtime} is not registered with the engine: its cases are skipped`);

    describe.runIf(available)(`hostile code under ${runtime}`, () => {
      let sandbox: BackendSandbox;
      let workspace: string;
      beforeAll(async () => {
        sandbox = await createBackendSandbox(kind, { runtime });
        workspace = await sandbox.workspace({ 'noop.py': 'print("ok")\n' });
      });
      afterAll(async () => sandbox.cleanup());

      it('a 50 MB stdout flood completes, truncated to the cap with head and tail kept, and the server stays small', async () => {
        const code = 'import sys\nsys.stdout.write("FIRST LINE\\n")\nline = "x" * 99 + "\\n"\nfor _ in range(500000): sys.stdout.write(line)\nsys.stdout.write("LAST LINE\\n")';
        const rssBefore = process.memoryUsage().rss;
        // gVisor's sentry buffers the pipe inside the container's memory cgroup: give it room, this is about logs.
        const limits = { timeoutSeconds: 90, memoryMb: 512, cpus: 1, pids: 128 };
        const result = await sandbox.backend.run(sandbox.spec({ command: python(code), workspaceDir: workspace, limits }));
        const rssGrowth = process.memoryUsage().rss - rssBefore;
        expect(result.exitCode).toBe(0);
        expect(result.stdout.truncated).toBe(true);
        expect(result.stdout.totalBytes).toBeGreaterThan(50_000_000);
        const markerLength = result.stdout.text.split('\n').find((line) => line.startsWith('[sandrun:'))!.length + 2;
        expect(Buffer.byteLength(result.stdout.text)).toBeLessThanOrEqual(1024 * 1024 + markerLength);
        expect(result.stdout.text.startsWith('FIRST LINE\n')).toBe(true);
        expect(result.stdout.text.endsWith('LAST LINE\n')).toBe(true);
        expect(rssGrowth, `RSS grew by ${(rssGrowth / 1e6).toFixed(1)} MB`).toBeLessThan(50 * 1024 * 1024);
      });

      it('sleep 600 with a 2 s timeout ends as timed_out, long before the sleep would', async () => {
        const started = Date.now();
        const result = await sandbox.backend.run(
          sandbox.spec({ command: ['sleep', '600'], workspaceDir: workspace, limits: { timeoutSeconds: 2, memoryMb: 128, cpus: 1, pids: 128 } }),
        );
        const elapsed = (Date.now() - started) / 1000;
        expect(result.outcome).toEqual({ kind: 'timed_out' });
        expect(result.exitCode, 'the command ran: 128 + SIGKILL').toBe(137);
        // The timeout, not the sleep, ended it; a slow machine's start and removal add seconds, not minutes.
        expect(elapsed, `took ${elapsed}s`).toBeLessThan(30);
      });

      it('allocating 1 GiB under a 128 MiB limit is oom_killed', async () => {
        const code = 'blocks = []\nfor _ in range(1024): blocks.append(bytearray(1024 * 1024))\nprint("allocated 1 GiB")';
        const result = await sandbox.backend.run(
          sandbox.spec({ command: python(code), workspaceDir: workspace, limits: { timeoutSeconds: 30, memoryMb: 128, cpus: 1, pids: 128 } }),
        );
        expect(result.stdout.text).not.toContain('allocated 1 GiB');
        expect(result.outcome, `exit ${result.exitCode}, stderr ${result.stderr.text}`).toEqual({ kind: 'oom_killed' });
      });

      it('a fork bomb under pids 64 is contained and the next run works', async () => {
        // Counting /proc entries with shell builtins needs no fork, so it works while the bomb holds every pid.
        const bomb = 'bomb() { bomb | bomb & }; bomb; sleep 3; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo "processes=$n"';
        const started = Date.now();
        const result = await sandbox.backend.run(
          sandbox.spec({ command: ['bash', '-c', bomb], workspaceDir: workspace, limits: { timeoutSeconds: 10, memoryMb: 256, cpus: 1, pids: 64 } }),
        );
        expect((Date.now() - started) / 1000, 'ended by its 10 s timeout at the latest').toBeLessThan(40);
        const counted = /processes=(\d+)/.exec(result.stdout.text);
        // runc: the bomb is held at the pids limit. gVisor: hitting the limit ends the whole sandbox (documented).
        if (counted) expect(Number(counted[1])).toBeLessThanOrEqual(64);
        else expect(result.outcome.kind === 'exited' && result.exitCode === 0).toBe(false);
        const next = await sandbox.backend.run(sandbox.spec({ command: ['python3', 'noop.py'], workspaceDir: workspace }));
        expect(next.exitCode).toBe(0);
        expect(next.stdout.text).toBe('ok\n');
      });

      it('inside: loopback only, not root, no capabilities, no new privileges, no docker socket, read-only root, capped /tmp', async () => {
        const code = [
          'import ctypes, json, os',
          'status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)',
          'sockets = []',
          'for top in ["/run", "/var/run", "/tmp", "/workspace", "/inputs", "/outputs", "/home", "/root", "/"]:',
          '    for root, dirs, files in os.walk(top):',
          '        if root.startswith(("/proc", "/sys")): dirs[:] = []; continue',
          '        sockets += [os.path.join(root, f) for f in files if f == "docker.sock"]',
          '        if top == "/": break',
          'def attempt(path, size):',
          '    try:',
          '        with open(path, "wb") as f:',
          '            chunk = b"x" * (1024 * 1024)',
          '            for _ in range(size): f.write(chunk)',
          '        return "wrote"',
          '    except OSError as e:',
          '        return "failed: " + (e.strerror or str(e))',
          'print(json.dumps({',
          '  "net": sorted(os.listdir("/sys/class/net")),',
          '  "uid": os.getuid(), "gid": os.getgid(),',
          '  "cap_eff": status["CapEff"].strip(), "no_new_privs": str(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0)),',
          '  "sockets": sockets,',
          '  "root_write": attempt("/evil", 1),',
          '  "tmp_100mb": attempt("/tmp/fill", 100),',
          '}))',
        ].join('\n');
        const result = await sandbox.backend.run(sandbox.spec({ command: python(code), workspaceDir: workspace }));
        expect(result.exitCode, result.stderr.text).toBe(0);
        const seen = JSON.parse(result.stdout.text) as Record<string, unknown>;
        expect(seen.net).toEqual(['lo']);
        expect(seen.uid).not.toBe(0);
        expect(seen.gid).not.toBe(0);
        expect(seen.cap_eff).toBe('0000000000000000');
        expect(seen.no_new_privs).toBe('1');
        expect(seen.sockets).toEqual([]);
        expect(seen.root_write).toMatch(/^failed/);
        expect(seen.tmp_100mb).toMatch(/^failed/);
      });

      it('nothing written to /tmp or /outputs can be executed, and a crash leaves no core dump', async () => {
        const script = [
          'try() { "$@" >/dev/null 2>&1; echo $?; }',
          'cp /bin/true /tmp/true; echo "tmp_binary=$(try /tmp/true)"',
          "printf '#!/bin/sh\\necho ran\\n' > /tmp/script.sh; chmod +x /tmp/script.sh; echo \"tmp_script=$(try /tmp/script.sh)\"",
          'cp /bin/true /outputs/true; echo "outputs_binary=$(try /outputs/true)"; rm -f /outputs/true',
          'echo "core_limit=$(ulimit -Sc)/$(ulimit -Hc)"',
          // A run that raises its own soft limit first: only a hard limit of 0 stops it.
          "cd /tmp && (ulimit -c unlimited 2>/dev/null; python3 -c 'import os; os.abort()'); echo \"abort=$?\"",
          'shopt -s nullglob; echo "core_files=$(echo /tmp/core*)"',
        ].join('\n');
        const result = await sandbox.backend.run(sandbox.spec({ command: ['bash', '-c', script], workspaceDir: workspace }));
        const seen = Object.fromEntries(result.stdout.text.trim().split('\n').map((line) => line.split('=', 2) as [string, string]));
        expect(result.exitCode, result.stderr.text).toBe(0);
        // 126: found but not executable (EACCES from a noexec mount).
        expect(seen, result.stdout.text).toMatchObject({ tmp_binary: '126', tmp_script: '126', outputs_binary: '126', core_limit: '0/0' });
        expect(seen.abort, 'python3 died of SIGABRT').toBe('134');
        expect(seen.core_files, 'core files in the crashed process\'s directory').toBe('');
      });
    });
  }
});
