// The floor every sandrun run is compared with: a bare `docker run --rm` of the same image and command.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const TRIVIAL_COMMAND = ['python3', '-c', 'print(1)'];

export async function bareDockerRun(image: string, command: string[] = TRIVIAL_COMMAND): Promise<number> {
  const started = performance.now();
  await execFileAsync('docker', ['run', '--rm', '--network', 'none', image, ...command]);
  return performance.now() - started;
}
