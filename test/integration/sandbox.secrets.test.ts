// A run's secrets (SPEC §10) on every backend: the file /run/secrets/KEY (in memory, read-only, the run user's), never the environment, and *** wherever the run prints or outputs a value.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogStream, SandboxResult, SandboxSpec } from '../../src/sandbox/backend.ts';
import { REDACTED, secretForms } from '../../src/sandbox/redaction.ts';
import { createBackendSandbox, eachBackend, type BackendSandbox } from '../helpers/backends.ts';
import { PROBE_SECRETS, PRINT_MODEL, PROBE_MODEL, API_TOKEN, ODD_TOKEN, type ProbeReport } from '../helpers/secret-models.ts';

/** Every form of every test value: none may be anywhere a run's result or live logs carry. */
const FORMS = [...secretForms(API_TOKEN), ...secretForms(ODD_TOKEN)];

function leakedIn(text: string): string[] {
  return FORMS.filter((form) => text.includes(form));
}

async function runCollecting(sandbox: BackendSandbox, spec: SandboxSpec): Promise<{ result: SandboxResult; live: Record<LogStream, Buffer[]> }> {
  const live: Record<LogStream, Buffer[]> = { stdout: [], stderr: [] };
  const result = await sandbox.backend.run(spec, { onLog: (stream, chunk) => live[stream].push(Buffer.from(chunk)) });
  return { result, live };
}

function report(result: SandboxResult): ProbeReport {
  const line = result.stdout.text.split('\n').find((l) => l.startsWith('REPORT '));
  if (!line) throw new Error(`no report; stdout ${result.stdout.text}; stderr ${result.stderr.text}`);
  return JSON.parse(line.slice('REPORT '.length)) as ProbeReport;
}

await eachBackend('sandbox.secrets', (kind) => {
  let sandbox: BackendSandbox;
  let workspace: string;

  beforeAll(async () => {
    sandbox = await createBackendSandbox(kind);
    workspace = await sandbox.workspace({ 'probe.py': PROBE_MODEL, 'print.py': PRINT_MODEL });
  });
  afterAll(async () => sandbox.cleanup());

  describe('a run with secrets', () => {
    it('reads each as /run/secrets/KEY: exact content, 0400 and the run user’s, on a read-only tmpfs, and in no environment variable', async () => {
      const result = await sandbox.backend.run(sandbox.spec({ command: ['python3', 'probe.py'], workspaceDir: workspace, secrets: PROBE_SECRETS }));
      expect(result.exitCode, result.stderr.text).toBe(0);
      const seen = report(result);
      expect(seen.names).toEqual(['API_TOKEN', 'ODD_TOKEN']);
      expect(seen.sha256, 'the file holds the value exactly').toBe(createHash('sha256').update(API_TOKEN).digest('hex'));
      expect(seen.oddSha256).toBe(createHash('sha256').update(ODD_TOKEN).digest('hex'));
      expect({ mode: seen.mode, uid: seen.uid, gid: seen.gid }).toEqual({ mode: '0o400', uid: 10001, gid: 10001 });
      expect(seen.writeFile, 'the file cannot be written').not.toBe('WROTE');
      expect(seen.newFile, '/run/secrets cannot be written').not.toBe('WROTE');
      expect(seen.chmod, 'the file’s mode cannot be changed').not.toBe('WROTE');
      expect(seen.mounts.length, 'mounted').toBeGreaterThan(0);
      for (const mount of seen.mounts) {
        expect(mount.type, `${mount.target} is in memory`).toBe('tmpfs');
        expect(mount.options.split(','), `${mount.target} is read-only`).toContain('ro');
      }
      expect(seen.envHasValue, 'no environment variable holds a value').toBe(false);
    });

    it('prints and outputs *** instead of a value, its base64 or URL-encoded forms, even split across writes, in the result and in every live chunk', async () => {
      const { result, live } = await runCollecting(sandbox, sandbox.spec({ command: ['python3', 'print.py'], workspaceDir: workspace, secrets: PROBE_SECRETS }));
      expect(result.exitCode, result.stderr.text).toBe(0);
      expect(leakedIn(result.stdout.text), result.stdout.text).toEqual([]);
      expect(leakedIn(result.stderr.text), result.stderr.text).toEqual([]);
      const lines = result.stdout.text.split('\n');
      for (const label of ['plain', 'b64', 'b64url', 'url', 'split']) expect(lines, result.stdout.text).toContain(`${label} ${REDACTED}`);
      expect(lines.find((line) => line.startsWith('embedded ')), 'base64 of a longer text holding the value').toContain(REDACTED);
      expect(result.stderr.text.split('\n')).toEqual([`err ${REDACTED}`, REDACTED, '']);
      for (const stream of ['stdout', 'stderr'] as const) {
        const chunks = live[stream];
        for (const chunk of chunks) expect(leakedIn(chunk.toString('utf8')), `a live ${stream} chunk`).toEqual([]);
        expect(Buffer.concat(chunks).toString('utf8'), `live ${stream} is the result's`).toBe(result[stream].text);
      }
      expect(result.outputs).toEqual({ leak: { token: REDACTED, [REDACTED]: 'as key', b64: REDACTED, nested: [{ odd: REDACTED }] } });
    });

    it('an output that is not JSON is reported without the value the parser quotes', async () => {
      // Short enough that the parser's message quotes the whole text (it cuts longer ones).
      const code = 'v = open("/run/secrets/API_TOKEN").read()\nopen("/outputs/bad.json", "w").write("[" + v + "]")';
      const result = await sandbox.backend.run(sandbox.spec({ command: ['python3', '-c', code], workspaceDir: workspace, secrets: PROBE_SECRETS }));
      expect(result.outcome.kind).toBe('output_invalid');
      const message = result.outcome.kind === 'output_invalid' ? result.outcome.message : '';
      expect(message).toContain('bad.json');
      expect(leakedIn(message), message).toEqual([]);
    });

    it('leaves nothing of the run behind', async () => {
      const spec = sandbox.spec({ command: ['python3', '-c', 'print(1)'], workspaceDir: workspace, secrets: PROBE_SECRETS });
      await sandbox.backend.run(spec);
      const deadline = Date.now() + 60_000;
      let left = await sandbox.leftovers(spec.runId);
      while (left.length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        left = await sandbox.leftovers(spec.runId);
      }
      expect(left).toEqual([]);
    });
  });

  describe('a run without secrets', () => {
    it('has no /run/secrets at all', async () => {
      const code = 'import os; print(os.path.exists("/run/secrets"))';
      for (const secrets of [undefined, {}]) {
        const result = await sandbox.backend.run(sandbox.spec({ command: ['python3', '-c', code], workspaceDir: workspace, ...(secrets ? { secrets } : {}) }));
        expect(result.stdout.text, `secrets ${JSON.stringify(secrets)}`).toBe('False\n');
      }
    });
  });
});
