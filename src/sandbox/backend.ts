// The sandbox contract: run one command in a fresh, locked-down container and report what happened.
// One implementation per engine (Docker now); the run service only sees this interface.

export interface SandboxLimits {
  timeoutSeconds: number;
  memoryMb: number;
  cpus: number;
  pids: number;
}

export interface SandboxSpec {
  runId: string;
  image: string;
  command: string[];
  /** Host path of the run's checkout, mounted read-only at /workspace. */
  workspaceDir: string;
  /** Delivered as /inputs/parameters.json. */
  parameters: Record<string, unknown>;
  /** Extra environment (the run's identity); the sandbox adds SANDRUN_PARAMETERS and SANDRUN_OUTPUTS. */
  env: Record<string, string>;
  limits: SandboxLimits;
  /** Extra container labels (tenant, project) for operators; sandrun.* labels are the sandbox's own. */
  labels?: Record<string, string>;
}

export type LogStream = 'stdout' | 'stderr';
export type LogListener = (stream: LogStream, chunk: Buffer) => void;

export interface RunOptions {
  signal?: AbortSignal;
  onLog?: LogListener;
  /** Called once the command is running (the run's started_at). */
  onStart?: (startedAt: Date) => void;
}

export type SandboxOutcome =
  | { kind: 'exited' } // exit code tells success or failure
  | { kind: 'timed_out' }
  | { kind: 'cancelled' }
  | { kind: 'oom_killed' }
  | { kind: 'output_invalid'; message: string }
  | { kind: 'output_too_large'; message: string };

export interface CapturedLog {
  text: string;
  truncated: boolean;
  totalBytes: number;
}

export interface SandboxResult {
  outcome: SandboxOutcome;
  /** null when the process never exited on its own (timeout, cancel). */
  exitCode: number | null;
  stdout: CapturedLog;
  stderr: CapturedLog;
  outputs: Record<string, unknown>;
  startedAt: Date;
  finishedAt: Date;
  durationSeconds: number;
}

export interface ManagedContainer {
  containerId: string;
  runId: string;
  running: boolean;
}

export interface SandboxBackend {
  /** Checks that the engine answers (readiness); throws engine_unavailable otherwise. */
  ping(): Promise<void>;
  /** Throws image_unavailable when the image is not present on the engine. */
  checkImage(image: string): Promise<void>;
  /**
   * Runs the command to completion. Resolves with the outcome for everything the code inside does
   * (exit, timeout, OOM, bad outputs, cancel); rejects with a SandrunError only when the platform failed.
   * The container is removed before this settles.
   */
  run(spec: SandboxSpec, options?: RunOptions): Promise<SandboxResult>;
  /** Containers this backend created that still exist (for reconciliation after a restart). */
  listManaged(): Promise<ManagedContainer[]>;
  /** Removes every managed container whose run is not live; returns how many it removed. */
  reap(isLive: (runId: string) => boolean): Promise<number>;
  close(): Promise<void>;
}
