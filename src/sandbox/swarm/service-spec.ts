// The swarm service a run gets: SPEC §3's restrictions as a service spec (API 1.41), plus the wrapper that returns /outputs.
import { STOP_SIGNAL, type SandboxSpec } from '../backend.ts';
import { INSTANCE_LABEL, MANAGED_LABEL, RUN_ID_LABEL } from '../labels.ts';
import type { ServiceFeatures } from './node-hardening.ts';
import { NO_CORE_DUMPS, OUTPUTS, PARAMETERS_FILE, RUN_USER, WORKSPACE, outputsTmpfsBytes, runEnv, type HardeningSettings } from '../container-layout.ts';

const MiB = 1024 * 1024;

/**
 * Runs the command; then kills every other process of the run user (so nothing the run started can
 * write after it), and prints /outputs as a base64 tar between two marker lines on stdout. The
 * container's exit code is the command's.
 */
const WRAPPER = [
  'n="$1"; shift',
  '"$@"',
  'code=$?',
  'kill -9 -1 2>/dev/null',
  'printf "\\n%s begin\\n" "$n"',
  '{ tar -c -f - -C /outputs . 2>/dev/null; echo $? > /tmp/.sandrun-tar-status; } | base64',
  'printf "%s end %s %s\\n" "$n" "$code" "$(cat /tmp/.sandrun-tar-status 2>/dev/null || echo 255)"',
  'exit $code',
].join('\n');

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
  // The log file holds the run's output and the outputs frame; bounded, read live as it is written.
  const logFileBytes = 4 * settings.logCapBytes + 2 * settings.outputsCapBytes + 4 * MiB;
  return {
    Name: serviceName(spec.runId),
    Labels: managedLabels(spec.runId, settings, spec.labels),
    TaskTemplate: {
      ContainerSpec: {
        Image: parts.imageId,
        Command: ['/bin/sh', '-c', WRAPPER, 'sandrun', parts.nonce, ...spec.command],
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
        ],
        Configs: [
          {
            File: { Name: PARAMETERS_FILE, UID: '0', GID: '0', Mode: 0o444 },
            ConfigID: parts.configId,
            ConfigName: parts.configName,
          },
        ],
      },
      Resources: { Limits: { MemoryBytes: memoryBytes, NanoCPUs: Math.round(spec.limits.cpus * 1e9), Pids: spec.limits.pids } },
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      LogDriver: { Name: 'local', Options: { 'max-size': String(logFileBytes), 'max-file': '1', compress: 'false' } },
    },
    Mode: { Replicated: { Replicas: 1 } },
  };
}
