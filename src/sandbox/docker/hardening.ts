// The container a run gets on a Docker engine: every restriction of SPEC §3 expressed as engine configuration.
import type Dockerode from 'dockerode';
import type { SandboxSpec } from '../backend.ts';
import { LAUNCHER_COMMAND } from './launcher-protocol.ts';
import { keptTmpfs } from '../kept-in-memory.ts';
import { INPUTS, LOCKED_DOWN, NO_CORE_DUMPS, OUTPUTS, RUN_USER, SECRETS_DIR, WORKSPACE, outputsTmpfsBytes, type HardeningSettings } from '../container-layout.ts';
import { INSTANCE_LABEL, MANAGED_LABEL, RUN_ID_LABEL } from '../labels.ts';

const MiB = 1024 * 1024;

const OUTPUTS_TMPFS_OPTIONS = 'nosuid,nodev,noexec,uid=10001,gid=10001,mode=0755';

/**
 * What a container is made of, apart from the run that will use it: what a warm container is parked for.
 * `withSecrets`: it mounts a directory for secrets at /run/secrets (filled when its run arrives); without, it has none.
 * `withNetwork`: it gets a network of its own to the egress proxy (SPEC §11), for a run with grants; without, none.
 */
export type ContainerTemplate = Pick<SandboxSpec, 'image' | 'imageId' | 'workspaceDir' | 'limits' | 'labels'> & { withSecrets?: boolean; withNetwork?: boolean };

/**
 * What a container is given beyond its template: the host directories it mounts read-only (its inputs, and for a run
 * with secrets the tmpfs directory of its secrets), and for one with network its own egress network, whose only
 * other member is the egress proxy.
 */
export interface ContainerAttachments {
  inputs: string;
  secrets?: string;
  network?: string;
}

/**
 * A container that runs its command as its own process (an image without the shell the launcher needs), with
 * /outputs on a volume that outlives the process: see direct-runner.ts.
 */
export interface DirectProcess {
  command: string[];
  env: string[];
  outputsVolume: string;
}

/**
 * @param containerId names the container (`sandrun-<id>`) and is its sandrun.run_id label: the run's id when
 *   created for a run, `pool-<uuid>` when parked ahead for a run not yet known.
 */
export function containerOptions(
  spec: ContainerTemplate,
  containerId: string,
  attached: ContainerAttachments,
  settings: HardeningSettings,
  direct?: DirectProcess,
): Dockerode.ContainerCreateOptions {
  const memoryBytes = Math.round(spec.limits.memoryMb * MiB);
  const fileSizeBytes = settings.fileSizeMb * MiB;
  return {
    name: `sandrun-${containerId}`,
    // By ID when the run names one: a container parked ahead must not run what its tag names by the time it is made.
    Image: spec.imageId ?? spec.image,
    Entrypoint: [],
    // Parked on the launcher until the run's trigger arrives on stdin; the container outlives the command so
    // that /outputs (a size-capped tmpfs, invisible to the archive API) can still be read: docs/decisions.md.
    Cmd: direct ? direct.command : LAUNCHER_COMMAND,
    ...(direct ? { Env: direct.env } : {}),
    User: RUN_USER,
    WorkingDir: WORKSPACE,
    Labels: { ...spec.labels, [MANAGED_LABEL]: 'true', [INSTANCE_LABEL]: settings.instanceId, [RUN_ID_LABEL]: containerId },
    NetworkDisabled: attached.network === undefined,
    OpenStdin: !direct,
    StdinOnce: !direct,
    AttachStdin: !direct,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: {
      NetworkMode: attached.network ?? 'none',
      ...LOCKED_DOWN,
      ShmSize: 16 * MiB,
      Binds: [
        `${spec.workspaceDir}:${WORKSPACE}:ro`,
        `${attached.inputs}:${INPUTS}:ro`,
        ...(attached.secrets ? [`${attached.secrets}:${SECRETS_DIR}:ro`] : []),
      ],
      Tmpfs: {
        // noexec is also the engine's default for a tmpfs; said here so that nothing a run writes can be executed whatever the engine.
        '/tmp': `rw,noexec,nosuid,nodev,size=${settings.tmpMb}m,mode=1777`,
        ...(direct ? {} : { [OUTPUTS]: `rw,${OUTPUTS_TMPFS_OPTIONS},size=${outputsTmpfsBytes(settings.outputsCapBytes)}` }),
        // Its stream is in no engine log: the launcher keeps copies of the run's output in memory instead, for a server that adopts it.
        ...(!direct && attached.secrets ? keptTmpfs(settings.logCapBytes) : {}),
      },
      ...(direct ? { Mounts: [{ Type: 'volume' as const, Source: direct.outputsVolume, Target: OUTPUTS }] } : {}),
      Memory: memoryBytes,
      MemorySwap: memoryBytes, // memory + swap = memory: no swap at all
      NanoCpus: Math.round(spec.limits.cpus * 1e9),
      PidsLimit: spec.limits.pids,
      Ulimits: [
        { Name: 'nofile', Soft: settings.openFiles, Hard: settings.openFiles },
        { Name: 'fsize', Soft: fileSizeBytes, Hard: fileSizeBytes },
        NO_CORE_DUMPS,
      ],
      // The stream (the launcher's, or the direct path's process's) is kept, bounded, for a server that adopts the run
      // (docs/decisions.md, "Runs outlive their server"); not one with secrets: what the run prints would be on the
      // engine's disk, values and all.
      LogConfig: attached.secrets ? { Type: 'none', Config: {} } : keptLog(settings),
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      AutoRemove: false,
      ...(settings.runtime === 'runsc' ? { Runtime: 'runsc' } : {}),
    },
  };
}

/** Files of a launcher container's kept log: it rotates, so at least (KEPT_LOG_FILES - 1) files' worth is always there. */
const KEPT_LOG_FILES = 4;

/**
 * The engine keeps a launcher container's stdio (the launcher's whole stream: the run's output, its markers, the
 * outputs frame) in its `local` log, rotated past this many bytes: both capped logs, the largest frame, and a margin.
 * A run that writes more keeps its latest bytes; what the server attached reads is unchanged (the stream).
 */
export function keptLogBytes(settings: Pick<HardeningSettings, 'outputsCapBytes' | 'logCapBytes'>): number {
  return 2 * settings.logCapBytes + outputsTmpfsBytes(settings.outputsCapBytes) + MiB;
}

function keptLog(settings: HardeningSettings): { Type: string; Config: Record<string, string> } {
  const fileBytes = Math.ceil(keptLogBytes(settings) / (KEPT_LOG_FILES - 1));
  return { Type: 'local', Config: { 'max-size': String(fileBytes), 'max-file': String(KEPT_LOG_FILES), compress: 'false' } };
}

/** A size-capped tmpfs as an engine volume: unlike a container's own tmpfs, it lasts while any container mounts it. */
export function outputsVolumeOptions(name: string, runId: string, settings: HardeningSettings): Dockerode.VolumeCreateOptions {
  return {
    Name: name,
    Driver: 'local',
    DriverOpts: { type: 'tmpfs', device: 'tmpfs', o: `${OUTPUTS_TMPFS_OPTIONS},size=${outputsTmpfsBytes(settings.outputsCapBytes)}` },
    Labels: { [MANAGED_LABEL]: 'true', [INSTANCE_LABEL]: settings.instanceId, [RUN_ID_LABEL]: runId },
  };
}

/**
 * The helper that keeps a run's outputs volume mounted (so its content outlives the run's container) and has the
 * `tar` to read it: sandrun's own base image, idle, with the run's hardening and little of anything.
 */
export function outputsHolderOptions(runId: string, volume: string, image: string, settings: HardeningSettings): Dockerode.ContainerCreateOptions {
  return {
    name: `sandrun-${runId}-outputs`,
    Image: image,
    Entrypoint: [],
    Cmd: ['sleep', 'infinity'],
    User: RUN_USER,
    WorkingDir: '/',
    Labels: { [MANAGED_LABEL]: 'true', [INSTANCE_LABEL]: settings.instanceId, [RUN_ID_LABEL]: runId },
    NetworkDisabled: true,
    HostConfig: {
      NetworkMode: 'none',
      ...LOCKED_DOWN,
      Mounts: [{ Type: 'volume', Source: volume, Target: OUTPUTS, ReadOnly: true }],
      Memory: 64 * MiB,
      MemorySwap: 64 * MiB,
      NanoCpus: 0.5e9,
      PidsLimit: 64, // gVisor's sandbox counts its own threads: 16 cannot even start it
      Ulimits: [NO_CORE_DUMPS], // its tar reads what a run wrote
      LogConfig: { Type: 'none', Config: {} },
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      ...(settings.runtime === 'runsc' ? { Runtime: 'runsc' } : {}),
    },
  };
}
