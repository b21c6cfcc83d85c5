// The swarm service a run gets: SPEC §3's restrictions as a service spec (API 1.41), plus the wrapper that returns /outputs.
import { STOP_SIGNAL, type SandboxSpec } from '../backend.ts';
import { INSTANCE_LABEL, MANAGED_LABEL, RUN_ID_LABEL } from '../labels.ts';
import { KILL_LEFT_PROCESSES, RUN_COMMAND, SUPERVISOR_LINGER_SECONDS } from '../command-shell.ts';
import { HAS_OUTPUTS, KEEP_IF_ABLE, RUN_COMMAND_KEPT, WRITE_KEPT_EXIT, keptMounts } from '../kept-in-memory.ts';
import type { ServiceFeatures } from './node-hardening.ts';
import { NO_CORE_DUMPS, OUTPUTS, PARAMETERS_FILE, RUN_GID, RUN_UID, RUN_USER, WORKSPACE, outputsTmpfsBytes, runEnv, type HardeningSettings } from '../container-layout.ts';

const MiB = 1024 * 1024;

/**
 * Waits for the server to attach to the container's stdio (it writes the nonce on stdin), so that every byte of the
 * run's output reaches the server through the attach, which holds the writer back rather than dropping anything.
 * Prints the start line (so a reader of the kept log knows it begins at the run's start, not after a rotation), runs
 * the command with stdin from /dev/null, in its own session; then kills every other process of the run user (so
 * nothing the run started can write after it), prints the frame's begin line, waits for the server to have read the
 * run's usage (a line on stdin), and prints /outputs as a base64 tar and the end line on stdout. Nothing touches /tmp,
 * which the run may have filled: tar's exit status comes back through a pipe. The container's exit code is the
 * command's.
 *
 * Each wait on stdin is bounded (where the image has `timeout`): a server that died leaves no attach, and swarm keeps
 * the container's stdin open (no StdinOnce), so the wrapper would wait forever. Past the linger it prints the frame
 * into the kept log unasked; the server that adopts the run meanwhile (adopted-task.ts) answers the begin line itself.
 *
 * A run with secrets has no kept log (its LogDriver is `none`): where the image has `mkfifo` and `tee`, the wrapper
 * copies the command's output into the container's memory and writes the exit file after it (kept-in-memory.ts, as
 * the Docker launcher does); a server that adopts the run reads those, and /outputs, while the wrapper waits at its
 * begin line (adopted-memory-task.ts).
 */
const WRAPPER = [
  'n="$1"; shift',
  `line() { if command -v timeout >/dev/null; then timeout ${SUPERVISOR_LINGER_SECONDS} sh -c 'IFS= read -r l; r=$?; printf "%s" "$l"; exit $r'; else IFS= read -r l; r=$?; printf "%s" "$l"; return $r; fi; }`,
  KEEP_IF_ABLE,
  'go=$(line) || exit 125',
  '[ "$go" = "$n" ] || exit 125',
  'printf "%s start\\n" "$n"',
  'if [ -z "$sandrun_keep" ]; then',
  RUN_COMMAND,
  'code=$?',
  'else',
  RUN_COMMAND_KEPT,
  'fi',
  KILL_LEFT_PROCESSES,
  'if [ -n "$sandrun_keep" ]; then',
  HAS_OUTPUTS,
  WRITE_KEPT_EXIT,
  'fi',
  'printf "\\n%s begin\\n" "$n"',
  'line >/dev/null',
  'exec 3>&1',
  's=$( { { tar -c -f - -C /outputs . 2>/dev/null; echo $? >&4; } | base64 >&3; } 4>&1 )',
  'printf "%s end %s %s\\n" "$n" "$code" "${s:-255}"',
  'exit $code',
].join('\n');

/** Files of a task's kept log: it rotates, so at least (TASK_LOG_FILES - 1) files' worth is always there. */
const TASK_LOG_FILES = 4;

/**
 * The `local` driver's disk bytes per byte of the frame: base64 (4/3) in 76-character lines, each line an entry of
 * its own with ~27 bytes of framing (measured: 4.05 MB of such lines take 5.47 MB, ×1.35); rounded up.
 */
const FRAME_DISK_FACTOR = 2;

/**
 * What a task's kept log must hold for a server that adopts the run (its own attach gone) to finish it: both capped
 * logs, the outputs frame of the fullest /outputs and a margin. A run that writes more keeps its latest bytes. The
 * server that started a run reads the attach, never this log.
 */
export function taskLogBytes(settings: Pick<HardeningSettings, 'outputsCapBytes'> & { logCapBytes: number }): number {
  return 2 * settings.logCapBytes + FRAME_DISK_FACTOR * outputsTmpfsBytes(settings.outputsCapBytes) + MiB;
}

export interface ServiceSettings extends HardeningSettings {
  logCapBytes: number;
}

export interface ServiceParts {
  spec: SandboxSpec;
  /** The image holding the workspace (by ID, so no node ever asks a registry). */
  imageId: string;
  configId: string;
  configName: string;
  nonce: string;
  /** The run's secrets as swarm secrets made for it (one per KEY): each the file /run/secrets/KEY of the run user, 0400. */
  secrets: RunSecretRef[];
}

export interface RunSecretRef {
  key: string;
  secretId: string;
  secretName: string;
}

/** A swarm secret's name: the run's and an index, so that it stays within the engine's 64 characters whatever the KEY. */
export function secretName(runId: string, index: number): string {
  return `sandrun-${runId}-secret-${index}`;
}

/** The Docker config holding a run's parameters. */
export function parametersConfigName(runId: string): string {
  return `sandrun-${runId}-parameters`;
}

export function serviceName(runId: string): string {
  return `sandrun-${runId}`;
}

export function managedLabels(runId: string, settings: HardeningSettings, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, [MANAGED_LABEL]: 'true', [INSTANCE_LABEL]: settings.instanceId, [RUN_ID_LABEL]: runId };
}

/** noexec, nosuid, nodev: as on the Docker backend, nothing a run writes can be executed or raise privileges. */
const TMPFS_FLAGS = [['noexec'], ['nosuid'], ['nodev']];

/**
 * What the cluster's API cannot carry (`features` false) is supplied by each node's daemon and checked there before
 * the first run (node-hardening.ts); docs/security.md lists which is which.
 */
export function serviceSpec(parts: ServiceParts, settings: ServiceSettings, features: ServiceFeatures): Record<string, unknown> {
  const { spec } = parts;
  const tmpfs = (sizeBytes: number) => ({ SizeBytes: sizeBytes, Mode: 0o1777, ...(features.tmpfsOptions ? { Options: TMPFS_FLAGS } : {}) });
  const memoryBytes = Math.round(spec.limits.memoryMb * MiB);
  const fileSizeBytes = settings.fileSizeMb * MiB;
  // Read by a server that adopts the run (and by operators' `docker service logs`); the live server reads its attach.
  const logFileBytes = Math.ceil(taskLogBytes(settings) / (TASK_LOG_FILES - 1));
  return {
    Name: serviceName(spec.runId),
    Labels: managedLabels(spec.runId, settings, spec.labels),
    TaskTemplate: {
      ContainerSpec: {
        Image: parts.imageId,
        Command: ['/bin/sh', '-c', WRAPPER, 'sandrun', parts.nonce, ...spec.command],
        // The wrapper's start signal and its usage handshake come on stdin (the command itself gets /dev/null).
        OpenStdin: true,
        Env: runEnv(spec),
        Dir: WORKSPACE,
        User: RUN_USER,
        Labels: managedLabels(spec.runId, settings, spec.labels),
        ReadOnly: true,
        Init: true,
        CapabilityDrop: ['ALL'],
        ...(features.noNewPrivileges ? { Privileges: { NoNewPrivileges: true } } : {}),
        Ulimits: [
          { Name: 'nofile', Soft: settings.openFiles, Hard: settings.openFiles },
          { Name: 'fsize', Soft: fileSizeBytes, Hard: fileSizeBytes },
          NO_CORE_DUMPS,
        ],
        // A stopped run (timeout, cancel: the service's removal) is killed at once, as on the Docker backend.
        StopSignal: STOP_SIGNAL,
        StopGracePeriod: 500_000_000,
        // Below API 1.46 a tmpfs takes no options: noexec, nosuid and nodev are then what dockerd puts on every tmpfs
        // mount (hard-coded, not a daemon setting), and the swarm tests check that nothing written there runs.
        Mounts: [
          { Type: 'tmpfs', Target: '/tmp', TmpfsOptions: tmpfs(settings.tmpMb * MiB) },
          { Type: 'tmpfs', Target: OUTPUTS, TmpfsOptions: tmpfs(outputsTmpfsBytes(settings.outputsCapBytes)) },
          // A run with secrets: the copies of its output kept in memory for a server that adopts it (kept-in-memory.ts).
          ...(parts.secrets.length > 0 ? Object.entries(keptMounts(settings.logCapBytes)).map(([target, bytes]) => ({ Type: 'tmpfs', Target: target, TmpfsOptions: tmpfs(bytes) })) : []),
        ],
        Configs: [
          {
            File: { Name: PARAMETERS_FILE, UID: '0', GID: '0', Mode: 0o444 },
            ConfigID: parts.configId,
            ConfigName: parts.configName,
          },
        ],
        // Relative names land in /run/secrets, a tmpfs of the node's engine: in memory, read-only, only there when given.
        ...(parts.secrets.length > 0
          ? {
              Secrets: parts.secrets.map((secret) => ({
                File: { Name: secret.key, UID: String(RUN_UID), GID: String(RUN_GID), Mode: 0o400 },
                SecretID: secret.secretId,
                SecretName: secret.secretName,
              })),
            }
          : {}),
      },
      Resources: { Limits: { MemoryBytes: memoryBytes, NanoCPUs: Math.round(spec.limits.cpus * 1e9), Pids: spec.limits.pids } },
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      // A run with secrets keeps no engine log: the node would write what the run printed, values and all, to its disk.
      LogDriver:
        parts.secrets.length > 0 ? { Name: 'none' } : { Name: 'local', Options: { 'max-size': String(logFileBytes), 'max-file': String(TASK_LOG_FILES), compress: 'false' } },
    },
    Mode: { Replicated: { Replicas: 1 } },
  };
}
