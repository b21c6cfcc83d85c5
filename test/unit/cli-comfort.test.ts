// CLI comfort: the spinner only where asked, colour off without a TTY or with NO_COLOR, bash completion, doctor's verdicts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Dockerode from 'dockerode';
import { runChecks } from '../../src/cli/doctor-checks.ts';
import { runCli } from '../../src/cli/program.ts';
import { spinner, startSpinner } from '../../src/cli/spinner.ts';
import { createColours, processTerminal, type Terminal } from '../../src/cli/terminal.ts';
import { EngineProxy } from '../helpers/engine-proxy.ts';

function fakeTerminal(): Terminal & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: { write: (text: string) => out.push(text) }, stderr: { write: (text: string) => err.push(text) }, colours: createColours(false) };
}

describe('spinner', () => {
  it('draws nothing when progress is off (not a TTY)', () => {
    const written: string[] = [];
    startSpinner({ write: (text: string) => written.push(text) }, 'running demo', false)();
    expect(written).toEqual([]);
  });

  it('shows the label and elapsed seconds, then erases its line', async () => {
    const written: string[] = [];
    const stop = startSpinner({ write: (text: string) => written.push(text) }, 'running demo', true, 10);
    // At least three frames, however slowly the timer fires on a busy machine.
    for (let waited = 0; written.length <= 2 && waited < 5_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    stop();
    expect(written.length).toBeGreaterThan(2);
    expect(written[1]).toMatch(/running demo \d+\.\ds$/);
    expect(written.at(-1)).toBe('\r\u001b[2K');
  });

  it('writes output above its line: erased first, then the output, then drawn again (a build log under a spinner)', () => {
    const written: string[] = [];
    const drawn = spinner({ write: (text: string) => written.push(text) }, 'building the environment of demo', true, 60_000);
    written.length = 0;
    drawn.above(() => written.push('Step 1/4 : FROM sha256:...\n'));
    drawn.stop();
    expect(written.slice(0, 2)).toEqual(['\r\u001b[2K', 'Step 1/4 : FROM sha256:...\n']);
    expect(written[2]?.startsWith('\r\u001b[2K'), written[2]).toBe(true);
    expect(written[2]).toMatch(/ building the environment of demo \d+\.\ds$/);
    expect(written.at(-1)).toBe('\r\u001b[2K');
  });
});

describe('colour', () => {
  it('is off when stdout is not a TTY, and with NO_COLOR', () => {
    expect(processTerminal({}).colours.status('failed')).toBe('failed');
    expect(processTerminal({ NO_COLOR: '1' }).colours.status('failed')).toBe('failed');
    expect(createColours(true).status('failed')).toBe('\u001b[31mfailed\u001b[39m');
  });
});

describe('sandrun completion bash', () => {
  it('prints a completion function that knows the commands and their subcommands', async () => {
    const terminal = fakeTerminal();
    expect(await runCli(['completion', 'bash'], { env: {}, terminal })).toBe(0);
    const script = terminal.out.join('');
    expect(script).toContain('complete -o default -F _sandrun sandrun');
    expect(script).toContain('"runs") words="get list cancel replay logs');
    expect(script).toContain('"runs logs") words="--follow');
    expect(await runCli(['completion', 'fish'], { env: {}, terminal })).toBe(2);
  });
});

describe('sandrun doctor', () => {
  it('fails with what to fix when the configuration is invalid', async () => {
    const terminal = fakeTerminal();
    expect(await runCli(['doctor', '--json'], { env: { SANDRUN_PORT: 'eighty' }, terminal })).toBe(1);
    const report = JSON.parse(terminal.out.join(''));
    expect(report.ok).toBe(false);
    expect(report.checks[0]).toMatchObject({ name: 'config', status: 'fail' });
    expect(report.checks[0].detail).toContain('SANDRUN_PORT');
  });

  it('checks the data dir, the engine, the runtimes and the images', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-doctor-'));
    try {
      const terminal = fakeTerminal();
      const code = await runCli(['doctor', '--json'], { env: { SANDRUN_DATA_DIR: dataDir, SANDRUN_IMAGES: 'sandrun/python:3.11,sandrun/absent:1', SANDRUN_DEFAULT_IMAGE: 'sandrun/python:3.11' }, terminal });
      const report = JSON.parse(terminal.out.join(''));
      const byName = Object.fromEntries(report.checks.map((check: { name: string }) => [check.name, check]));
      expect(byName['data dir'].status).toBe('ok');
      expect(byName.engine.status).toBe('ok');
      expect(byName['runtime runc'].status).toBe('ok');
      expect(byName['image sandrun/python:3.11'].status).toBe('ok');
      expect(byName['image sandrun/absent:1']).toMatchObject({ status: 'fail', fix: expect.stringContaining('npm run images') });
      expect(code).toBe(1);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('fails the engine check, not hangs, when the engine accepts connections and never answers', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-doctor-'));
    const proxy = new EngineProxy(join(dataDir, 'wedged.sock'));
    await proxy.hang();
    try {
      const started = Date.now();
      const checks = await runChecks({ SANDRUN_DATA_DIR: dataDir, SANDRUN_ENGINE_CALL_TIMEOUT_SECONDS: '1' }, new Dockerode({ socketPath: proxy.path }));
      expect(checks.find((check) => check.name === 'engine')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/did not answer/) });
      expect(Date.now() - started, 'bounded by the engine-call deadline').toBeLessThan(20_000);
    } finally {
      await proxy.down();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
