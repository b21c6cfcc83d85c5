// The egress proxy's container and the networks around it (SPEC §11), as engine configuration: pure, so each restriction is reviewable and tested.
import type Dockerode from 'dockerode';
import { INSTANCE_LABEL } from '../labels.ts';
import { LOCKED_DOWN, NO_CORE_DUMPS, RUN_USER } from '../container-layout.ts';

/** The proxy's name on each run's network: runs reach it as `egress-proxy:3128`. */
export const EGRESS_PROXY_ALIAS = 'egress-proxy';
export const EGRESS_PROXY_PORT = 3128;
/** What a container or network of egress is: not `sandrun.managed` (the run reaper's), so no run reaper ever takes it. */
export const EGRESS_COMPONENT_LABEL = 'sandrun.egress';
const PROGRAM_IN_CONTAINER = '/opt/sandrun-egress/egress-proxy.mjs';
/** Where the proxy sees its server's egress directory (grants/, counts/). */
export const DIR_IN_CONTAINER = '/egress';
const MiB = 1024 * 1024;

export interface EgressProxySettings {
  instanceId: string;
  /** An image with Node 18 or later (sandrun/node:18). */
  image: string;
  /** Host path of dist/egress-proxy.mjs, mounted read-only. */
  programPath: string;
  /** Host path of the directory shared with the server (egress-files.ts). */
  dir: string;
}

export const egressProxyName = (instanceId: string) => `sandrun-egress-proxy-${instanceId}`;
/** The one network the proxy reaches destinations through (an ordinary bridge: the engine host's routes and NAT). */
export const egressOutboundNetworkName = (instanceId: string) => `sandrun-egress-out-${instanceId}`;
/** A run's own network: the run and the proxy, nothing else (not another run, not the engine host). Named by its container's id. */
export const egressRunNetworkName = (owner: string) => `sandrun-egress-run-${owner}`;
/** The label on a run network naming the container it was made for (`sandrun-<owner>`). */
export const EGRESS_OWNER_LABEL = 'sandrun.egress_owner';

/**
 * The proxy: Node and the one bundled file, as the runner images' unprivileged user, every capability dropped, a
 * read-only root, bounded memory, pids and logs; the engine restarts it whenever it exits (the server checks too).
 * It starts on the outbound network; each run's network is connected to it for the run's life.
 */
export function egressProxyContainerOptions(settings: EgressProxySettings): Dockerode.ContainerCreateOptions {
  return {
    name: egressProxyName(settings.instanceId),
    Image: settings.image,
    Entrypoint: [],
    Cmd: ['node', PROGRAM_IN_CONTAINER],
    Env: [`EGRESS_DIR=${DIR_IN_CONTAINER}`, `EGRESS_PORT=${EGRESS_PROXY_PORT}`, 'EGRESS_HOST=0.0.0.0', 'NODE_ENV=production'],
    User: RUN_USER,
    WorkingDir: '/',
    Labels: { [EGRESS_COMPONENT_LABEL]: 'proxy', [INSTANCE_LABEL]: settings.instanceId },
    HostConfig: {
      NetworkMode: egressOutboundNetworkName(settings.instanceId),
      ...LOCKED_DOWN,
      Binds: [`${settings.programPath}:${PROGRAM_IN_CONTAINER}:ro`, `${settings.dir}:${DIR_IN_CONTAINER}:rw`],
      Tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=16m,mode=1777' },
      Memory: 256 * MiB,
      MemorySwap: 256 * MiB,
      NanoCpus: 1e9,
      PidsLimit: 128,
      Ulimits: [{ Name: 'nofile', Soft: 8192, Hard: 8192 }, NO_CORE_DUMPS],
      // Its log is the egress audit trail (one line per refusal and per closed connection): kept, but bounded.
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
      RestartPolicy: { Name: 'always', MaximumRetryCount: 0 },
    },
  };
}

export function egressOutboundNetworkOptions(instanceId: string): Dockerode.NetworkCreateOptions {
  return {
    Name: egressOutboundNetworkName(instanceId),
    Driver: 'bridge',
    CheckDuplicate: true,
    Internal: false,
    Labels: { [EGRESS_COMPONENT_LABEL]: 'outbound', [INSTANCE_LABEL]: instanceId },
  };
}

/**
 * A run's network: internal (no route out, no NAT) and without an address of the engine host on its bridge
 * (inhibit_ipv4), so the run cannot reach the host's own services through it; its only other member is the proxy.
 */
export function egressRunNetworkOptions(owner: string, instanceId: string): Dockerode.NetworkCreateOptions {
  return {
    Name: egressRunNetworkName(owner),
    Driver: 'bridge',
    CheckDuplicate: true,
    Internal: true,
    EnableIPv6: false,
    Options: { 'com.docker.network.bridge.inhibit_ipv4': 'true' },
    Labels: { [EGRESS_COMPONENT_LABEL]: 'run', [INSTANCE_LABEL]: instanceId, [EGRESS_OWNER_LABEL]: owner },
  };
}
