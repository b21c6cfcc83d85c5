// The sandbox contract: run one command in a fresh, locked-down container and report what happened.
// One implementation per engine (sandbox/docker/, sandbox/swarm/), chosen at start; the run service only sees this interface.
import { constants } from 'node:os';
import type { RunLimits } from '../run-limits.ts';
import type { EnvironmentImages } from './environment-images.ts';
import type { EgressGrant } from '../egress/egress-files.ts';
import type { EgressUsage } from '../egress/egress-ledger.ts';
import type { Artifact } from '../artifacts/artifact-types.ts';

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
  limits: RunLimits;
  /** Extra container labels (tenant, project) for operators; sandrun.* labels are the sandbox's own. */
  labels?: Record<string, string>;
  /**
   * The project's secrets, KEY → value (SPEC §10): each is the file /run/secrets/KEY, in memory, read-only, readable
   * only by the run user, never an environment variable; none of their values is in the result or the live logs
   * (redaction.ts). Absent or empty: no /run/secrets at all.
   */
  secrets?: Record<string, string>;
  /**
   * What the run may reach through the egress proxy (SPEC §11), as granted at its start; absent or empty: no network
   * at all. A backend that cannot give a run these refuses it (egress_denied) rather than run it without them.
   */
  egress?: EgressGrant[];
  /**
   * The engine's ID of `image` as the run's data_snapshot_ref names it (asked just before the start). On Docker the
   * run's container is made from this ID, and one parked ahead serves the run only if it was made from it too (the
   * tag may have been rebuilt meanwhile).
   */
  imageId?: string;
}

export type LogStream = 'stdout' | 'stderr';
export type LogListener = (stream: LogStream, chunk: Buffer) => void;

export interface RunOptions {
  signal?: AbortSignal;
  onLog?: LogListener;
  /**
   * Called once the command is running (the run's started_at), with the backend's note of where it runs
   * (`sandboxRef`, recorded with the start): what adopt() finds it by after this server is gone.
   */
  onStart?: (startedAt: Date, sandboxRef?: string) => void;
  /** Where the run's files under /outputs are kept as they are read (SPEC §12); absent: none is kept. */
  artifacts?: ArtifactSink;
}

/** Keeps a file's bytes (content-addressed): resolves with their size and SHA-256 once all are written. */
export interface ArtifactSink {
  store(content: AsyncIterable<Buffer>): Promise<{ size: number; sha256: string }>;
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

/** The engine's own accounting of a run's container (cgroup). */
export interface SandboxUsage {
  cpuSeconds: number;
  /** null when the engine does not report a high-water mark (cgroup v2 through the stats API). */
  peakMemoryBytes: number | null;
}

/** The signal a run is stopped with (timeout, cancel): nothing in the run can catch or outlast it. */
export const STOP_SIGNAL = 'SIGKILL';

/** A process ended by a signal exits with 128 + the signal's number, as shells report it (SIGKILL: 137). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

export interface SandboxResult {
  outcome: SandboxOutcome;
  /** The command's exit code; 128 + the signal when it was stopped (timeout, cancel); null if it never ran. */
  exitCode: number | null;
  stdout: CapturedLog;
  stderr: CapturedLog;
  outputs: Record<string, unknown>;
  startedAt: Date;
  finishedAt: Date;
  durationSeconds: number;
  /** Absent when the engine could not say (best effort). */
  usage?: SandboxUsage;
  /** What the run's connections through the egress proxy moved, per destination; absent for a run without grants. */
  egress?: EgressUsage[];
  /** The regular files under /outputs that were kept, sorted by path; absent or empty: none. */
  artifacts?: Artifact[];
}

/** A run another process started and can no longer finish (it stopped, or died): what adopt() needs of its record. */
export interface AdoptionSpec {
  runId: string;
  /** What the run's onStart said of where it runs (runs.sandbox_ref); null when it said nothing (that run cannot be adopted). */
  sandboxRef: string | null;
  /** The run's started_at: its timeout counts from there, not from the adoption. */
  startedAt: Date;
  limits: RunLimits;
  /** The project's secrets, whose values are redacted from what is read, as for run(). */
  secrets?: Record<string, string>;
}

export interface ReapOptions {
  minAgeMs?: number;
  /** Whose containers: another server's instance (labels.ts INSTANCE_LABEL); this server's own by default. */
  instanceId?: string;
  /** Notes (runs.sandbox_ref) of runs other servers carry: their containers stay, whatever run their labels name. */
  keep?: readonly string[];
}

export interface ManagedContainer {
  containerId: string;
  runId: string;
  running: boolean;
  createdAt: Date;
}

export interface SandboxBackend {
  /** Project environments' images (SPEC §9): built on this backend's engine, and where its runs can use them. */
  readonly environments: EnvironmentImages;
  /** Checks that the engine answers (readiness); throws engine_unavailable otherwise. */
  ping(): Promise<void>;
  /** Throws image_unavailable when the image is not present on the engine. */
  checkImage(image: string): Promise<void>;
  /**
   * The engine's ID (`sha256:...`) of the image a run of `image` runs on now (a tag moves, an ID does not): what a
   * run's data_snapshot_ref records. Throws image_unavailable when the image is not there.
   */
  imageId(image: string): Promise<string>;
  /**
   * Runs the command to completion. Resolves with the outcome for everything the code inside does
   * (exit, timeout, OOM, bad outputs, cancel); rejects with a SandrunError only when the platform failed.
   * A stopped or failed run settles once its containers are gone; a finished one does not wait for their removal
   * (removals.ts), which close() waits for.
   */
  run(spec: SandboxSpec, options?: RunOptions): Promise<SandboxResult>;
  /**
   * Finishes a run another process started (SPEC §13): follows its container to its end from what the container kept
   * (logs, exit, outputs), stopping it at its deadline (from `startedAt`) or on options.signal (cancel), with live
   * chunks to options.onLog, as run() would have. Rejects with not_found when the run's container is gone (or it
   * left no note of one): the run is lost. From the call on (synchronously), the reaper leaves that container alone.
   */
  adopt(spec: AdoptionSpec, options?: RunOptions): Promise<SandboxResult>;
  /** Containers this backend created (or, with `instanceId`, another server on the same engine) that still exist. */
  listManaged(instanceId?: string): Promise<ManagedContainer[]>;
  /**
   * Removes every managed container that is neither serving a run of this process nor parked in its pool, whose
   * run is not live, and (with minAgeMs) which is older than that; returns how many it removed. `instanceId`: the
   * containers another server made on this engine (a dead one's, SPEC §13), in place of this server's own.
   */
  reap(isLive: (runId: string) => boolean, options?: ReapOptions): Promise<number>;
  /** Removes containers parked ahead whose labels match (a project refreshed or removed); `{}` matches all. */
  releaseWarm(labels: Record<string, string>): Promise<void>;
  /**
   * A forced stop: removes every container of this server at once, parked ones first, then those serving runs,
   * whose runs are lost as in a crash (the next start reconciles them). Waits for nothing else.
   */
  removeAll(): Promise<void>;
  close(): Promise<void>;
}
