// Runs the git binary (an argument array, never a shell) with a timeout and no prompts; failures become git_failed.
import { execFile, spawn } from 'node:child_process';
import { SandrunError } from '../errors.ts';

export interface GitOptions {
  /** Working directory; most callers pass --git-dir instead. */
  cwd?: string;
  /** Killed after this long; network operations pass a longer one. */
  timeoutMs?: number;
  /** Written to git's stdin (for --batch commands). */
  input?: string;
  /** Exit codes that are answers rather than failures (e.g. 1 for `merge-base --is-ancestor`). */
  okExitCodes?: readonly number[];
}

export interface GitResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

// Prompts would hang a server with no terminal; ssh's BatchMode does the same for host-key and password prompts.
const gitEnvironment = (): NodeJS.ProcessEnv => ({
  ...process.env,
  GIT_TERMINAL_PROMPT: '0',
  GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes',
  LC_ALL: 'C',
});

/**
 * Runs `git ...args`. `attempt` says what was being done ("cloning https://..."), and starts the message
 * of the SandrunError('git_failed') thrown when git fails, times out or exits with a code not in okExitCodes.
 */
export function runGit(args: readonly string[], attempt: string, options: GitOptions = {}): Promise<GitResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      'git',
      args,
      { cwd: options.cwd, env: gitEnvironment(), timeout: timeoutMs, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) {
          resolvePromise({ exitCode: 0, stdout, stderr });
          return;
        }
        const exitCode = typeof error.code === 'number' ? error.code : null;
        if (exitCode !== null && !error.killed && options.okExitCodes?.includes(exitCode)) {
          resolvePromise({ exitCode, stdout, stderr });
          return;
        }
        const reason = error.killed
          ? `git timed out after ${Math.round(timeoutMs / 1000)}s`
          : stderr.trim() || error.message;
        reject(new SandrunError('git_failed', `${attempt}: ${reason}`, { exitCode, args: [...args] }, { cause: error }));
      },
    );
    // git may exit before reading its stdin; the exit code, handled above, is what reports a failure.
    child.stdin?.on('error', () => undefined);
    if (options.input === undefined) child.stdin?.end();
    else child.stdin?.end(options.input);
  });
}

const MAX_STDERR_BYTES = 64 * 1024;
/** No listing record (a path, with its mode and object) is anywhere near this long; a longer one is an attack. */
const MAX_RECORD_BYTES = 1024 * 1024;

/**
 * Runs `git ...args` and hands its stdout to `onRecord` one NUL-terminated record at a time (for `-z` listings), never
 * holding the whole output: a listing of millions of files costs no more memory than one of ten. When `onRecord`
 * returns 'stop', git is killed and the promise resolves with `stopped: true`; failures are git_failed as for runGit.
 */
export function streamGitRecords(
  args: readonly string[],
  attempt: string,
  onRecord: (record: string) => 'stop' | void,
  options: Pick<GitOptions, 'timeoutMs'> = {},
): Promise<{ stopped: boolean }> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', args, { env: gitEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stopped = false;
    let timedOut = false;
    let oversized = false;
    let pending: Buffer = Buffer.alloc(0);
    let stderr = '';
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      if (stopped || oversized) return;
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let start = 0;
      for (let end = pending.indexOf(0, start); end !== -1; end = pending.indexOf(0, start)) {
        const record = pending.toString('utf8', start, end);
        start = end + 1;
        if (onRecord(record) === 'stop') {
          stopped = true;
          child.kill('SIGKILL');
          return;
        }
      }
      pending = pending.subarray(start);
      if (pending.length > MAX_RECORD_BYTES) {
        oversized = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.toString('utf8');
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new SandrunError('git_failed', `${attempt}: ${error.message}`, { exitCode: null, args: [...args] }, { cause: error }));
    });
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      if (stopped) resolvePromise({ stopped: true });
      else if (exitCode === 0 && !oversized) resolvePromise({ stopped: false });
      else {
        const reason = timedOut
          ? `git timed out after ${Math.round(timeoutMs / 1000)}s`
          : oversized
            ? `git wrote a record longer than ${MAX_RECORD_BYTES} bytes`
            : stderr.trim() || `git exited with code ${exitCode}`;
        reject(new SandrunError('git_failed', `${attempt}: ${reason}`, { exitCode, args: [...args] }));
      }
    });
  });
}
