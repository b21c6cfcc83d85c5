// The floor every sandrun run is compared with: a bare `docker run --rm` of the same image and command.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BENCH_MODELS } from './bench-server.ts';

const execFileAsync = promisify(execFile);

export const TRIVIAL_COMMAND = ['python3', '-c', 'print(1)'];

/** `runtime`: an OCI runtime registered with the engine (`runsc`); `dockerArgs`: more `docker run` options. */
export interface BareRun {
  command?: string[];
  runtime?: string;
  dockerArgs?: string[];
}

/** The arguments of `docker run` after `run`, for xargs and for a single timed run. */
export function bareRunArguments(image: string, run: BareRun = {}): string[] {
  return ['run', '--rm', '--network', 'none', ...(run.runtime ? ['--runtime', run.runtime] : []), ...(run.dockerArgs ?? []), image, ...(run.command ?? TRIVIAL_COMMAND)];
}

export async function bareDockerRun(image: string, run: BareRun = {}): Promise<number> {
  const started = performance.now();
  await execFileAsync('docker', bareRunArguments(image, run));
  return performance.now() - started;
}

/** The common case without sandrun: models/realistic.py with its parameters mounted at /inputs and a tmpfs at /outputs. */
export function bareRealisticRun(): BareRun & { remove(): void } {
  const inputs = mkdtempSync(join(tmpdir(), 'sandrun-bench-inputs-'));
  chmodSync(inputs, 0o755);
  writeFileSync(join(inputs, 'parameters.json'), JSON.stringify({ growth: 0.1 }), { mode: 0o644 });
  return {
    command: ['python3', '-c', BENCH_MODELS['models/realistic.py']!],
    dockerArgs: ['-v', `${inputs}:/inputs:ro`, '--tmpfs', '/outputs'],
    remove: () => rmSync(inputs, { recursive: true, force: true }),
  };
}
