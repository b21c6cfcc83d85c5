// What a run's container looks like from inside, whatever the engine (SPEC §3): its user, its paths, its environment, its caps.
import type { SandboxSpec } from './backend.ts';

/** The unprivileged user of the runner images; forced on every run whatever the image says. */
export const RUN_UID = 10001;
export const RUN_GID = 10001;
export const RUN_USER = `${RUN_UID}:${RUN_GID}`;
export const WORKSPACE = '/workspace';
export const INPUTS = '/inputs';
export const OUTPUTS = '/outputs';
export const PARAMETERS_FILE = `${INPUTS}/parameters.json`;
/** A run's secrets, one file per KEY (SPEC §10); only there when the run has any. */
export const SECRETS_DIR = '/run/secrets';

/** The server's settings every engine turns into a run's restrictions. */
export interface HardeningSettings {
  /** This server's identity on the engine (label sandrun.instance). */
  instanceId: string;
  runtime: 'runc' | 'runsc';
  tmpMb: number;
  outputsCapBytes: number;
  fileSizeMb: number;
  openFiles: number;
  /** Each output stream's cap in a result (SANDRUN_LOG_CAP_BYTES): what a container's kept log is sized by. */
  logCapBytes: number;
}

const MiB = 1024 * 1024;

/**
 * The outputs tmpfs is a little larger than the cap, so that a run which writes more than the cap
 * is seen to have done so (output_too_large) instead of merely failing to write.
 */
export function outputsTmpfsBytes(capBytes: number): number {
  return capBytes + Math.max(MiB, Math.ceil(capBytes / 10));
}

/**
 * What every container sandrun makes for a run or beside runs (the run's, its outputs helper, the egress proxy) is
 * denied: no capability, no privilege gained through setuid, a read-only root, an init reaping its processes, its own IPC.
 */
export const LOCKED_DOWN = {
  CapDrop: ['ALL'],
  SecurityOpt: ['no-new-privileges:true'],
  Privileged: false,
  ReadonlyRootfs: true,
  Init: true,
  IpcMode: 'private',
};

/** No core dumps: a crashing run must leave nothing for the host's core handler (it would hold the run's memory). */
export const NO_CORE_DUMPS = { Name: 'core', Soft: 0, Hard: 0 };

/** The run's environment: its identity, where its parameters and outputs are, and a writable HOME. */
export function runEnv(spec: SandboxSpec): string[] {
  const env: Record<string, string> = {
    ...spec.env,
    SANDRUN_PARAMETERS: PARAMETERS_FILE,
    SANDRUN_OUTPUTS: OUTPUTS,
    HOME: '/tmp',
  };
  return Object.entries(env).map(([key, value]) => `${key}=${value}`);
}

/** A run's secrets, or undefined when it has none (an empty set is none: no /run/secrets). */
export function runSecrets(spec: Pick<SandboxSpec, 'secrets'>): Record<string, string> | undefined {
  return spec.secrets && Object.keys(spec.secrets).length > 0 ? spec.secrets : undefined;
}
