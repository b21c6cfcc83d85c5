// Runs the git binary (an argument array, never a shell) in an environment of sandrun's own, never the operator's; failures become git_failed.
import { execFile, spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { SandrunError } from '../errors.ts';
import { describeGitFailure } from './git-failure.ts';

export interface GitOptions {
  /** Working directory; most callers pass --git-dir instead. */
  cwd?: string;
  /** Killed after this long; network operations pass a longer one. */
  timeoutMs?: number;
  /** Written to git's stdin (for --batch commands). */
  input?: string;
  /** Exit codes that are answers rather than failures (e.g. 1 for `merge-base --is-ancestor`). */
  okExitCodes?: readonly number[];
  /** For clone, fetch and ls-remote: how to reach the remote (see git-remote.ts). */
  remote?: RemoteAccess;
}

/** What one network git call adds: `-c` settings (nothing secret: argv is world-readable) and environment (credentials). */
export interface RemoteAccess {
  config: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Strings (a token, its header) blanked out of what is logged, should a remote echo them back. */
  secrets: readonly string[];
}

export interface GitResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface GitSettings {
  /** PATH for git and the ssh it starts: the one thing taken from the server's environment. */
  searchPath: string;
  /** An empty directory of sandrun's own: git and ssh find no configuration, keys or credentials in it. */
  homeDir: string;
  /** Adds file:// and local paths to git's protocol allow-list (SANDRUN_ALLOW_LOCAL_REPOS). */
  allowLocalRepos: boolean;
  /** A PEM bundle git trusts for https instead of the system's (SANDRUN_GIT_CA_FILE). */
  caFile: string | undefined;
  /** The ssh command for calls that reach no remote (they never start ssh; set so that nothing else is used). */
  sshCommand: string;
  logger: Logger;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export class GitRunner {
  private readonly environment: Readonly<Record<string, string>>;
  private readonly config: readonly string[];

  constructor(private readonly settings: GitSettings) {
    // Built from nothing: no SSH_AUTH_SOCK, no GIT_* or proxy variables, no HOME of the operator's.
    this.environment = {
      PATH: settings.searchPath,
      HOME: settings.homeDir,
      XDG_CONFIG_HOME: settings.homeDir,
      LC_ALL: 'C',
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_ALLOW_PROTOCOL: settings.allowLocalRepos ? 'https:ssh:file' : 'https:ssh',
      GIT_SSH_COMMAND: settings.sshCommand,
    };
    this.config = [
      // An empty value clears the helper list: git asks no one for a password.
      'credential.helper=',
      'core.askPass=',
      // A redirect could lead to any host; http-alternates, which name other hosts, are followed only with redirects.
      'http.followRedirects=false',
      ...(settings.caFile ? [`http.sslCAInfo=${settings.caFile}`] : []),
    ];
  }

  /**
   * Runs `git ...args`. `attempt` says what was being done ("cloning https://..."), and starts the message of the
   * SandrunError('git_failed') thrown when git fails, times out or exits with a code not in okExitCodes. The message
   * ends in one of a few fixed reasons: what git or the remote printed goes to the server's log, never to a client.
   */
  run(args: readonly string[], attempt: string, options: GitOptions = {}): Promise<GitResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const env = { ...this.environment, ...options.remote?.env };
    return new Promise((resolvePromise, reject) => {
      const child = execFile(
        'git',
        this.withConfig(args, options.remote?.config),
        { cwd: options.cwd, env, timeout: timeoutMs, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' },
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
          const timedOut = error.killed === true;
          reject(this.failure({ attempt, args, exitCode, stderr, secrets: options.remote?.secrets, reason: describeGitFailure({ stderr, timedOut, timeoutMs }), timedOut, cause: error }));
        },
      );
      // git may exit before reading its stdin; the exit code, handled above, is what reports a failure.
      child.stdin?.on('error', () => undefined);
      if (options.input === undefined) child.stdin?.end();
      else child.stdin?.end(options.input);
    });
  }

  /**
   * Runs `git ...args` and hands its stdout to `onRecord` one NUL-terminated record at a time (for `-z` listings),
   * never holding the whole output: a listing of millions of files costs no more memory than one of ten. When
   * `onRecord` returns 'stop', git is killed and the promise resolves with `stopped: true`; failures are git_failed.
   */
  streamRecords(
    args: readonly string[],
    attempt: string,
    onRecord: (record: string) => 'stop' | void,
    options: Pick<GitOptions, 'timeoutMs'> = {},
  ): Promise<{ stopped: boolean }> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolvePromise, reject) => {
      const child = spawn('git', this.withConfig(args), { env: this.environment, stdio: ['ignore', 'pipe', 'pipe'] });
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
        reject(new SandrunError('git_failed', `${attempt}: ${error.message}`, { exitCode: null }, { cause: error }));
      });
      child.once('close', (exitCode) => {
        clearTimeout(timer);
        if (stopped) return resolvePromise({ stopped: true });
        if (exitCode === 0 && !oversized) return resolvePromise({ stopped: false });
        const reason = oversized ? `git wrote a record longer than ${MAX_RECORD_BYTES} bytes` : describeGitFailure({ stderr, timedOut, timeoutMs });
        reject(this.failure({ attempt, args, exitCode, stderr, reason, timedOut }));
      });
    });
  }

  /** git's argv: sandrun's `-c` settings (and a remote's), then the call's own arguments. */
  private withConfig(args: readonly string[], extra: readonly string[] = []): string[] {
    return [...[...this.config, ...extra].flatMap((setting) => ['-c', setting]), ...args];
  }

  /** Logs what git printed (with any secret blanked out) and makes the client's error, which carries only `reason`. */
  private failure(failed: { attempt: string; args: readonly string[]; exitCode: number | null; stderr: string; reason: string; timedOut: boolean; secrets?: readonly string[]; cause?: unknown }): SandrunError {
    const logged = (failed.secrets ?? []).reduce((text, secret) => text.replaceAll(secret, '[redacted]'), failed.stderr.slice(-4096));
    this.settings.logger.warn({ attempt: failed.attempt, args: [...failed.args], exitCode: failed.exitCode, killed: failed.timedOut, stderr: logged }, 'git failed');
    return new SandrunError('git_failed', `${failed.attempt}: ${failed.reason}`, { exitCode: failed.exitCode }, { cause: failed.cause });
  }
}

const MAX_STDERR_BYTES = 64 * 1024;
/** No listing record (a path, with its mode and object) is anywhere near this long; a longer one is an attack. */
const MAX_RECORD_BYTES = 1024 * 1024;
