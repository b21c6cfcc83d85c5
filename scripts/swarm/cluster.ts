// A throw-away Docker Swarm of real dockerds on one machine: one per network namespace, joined through a private bridge.
import Dockerode from 'dockerode';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { delay, sh } from './host.ts';
import { loadImages } from './images.ts';
import { SUBNET_PREFIX, clusterLayout, daemonConfig, type ClusterLayout, type NodeLayout } from './layout.ts';
import { stopDaemon, sweepLeftovers, teardownCluster } from './teardown.ts';

export interface SwarmCluster {
  id: string;
  /** unix:// socket paths of the nodes' engines (all managers); the first is the one `swarm init` ran on. */
  sockets: string[];
  /** Network namespace of each node, same order (e.g. to cut a node off). */
  namespaces: string[];
  /** The namespace holding the bridge that joins the nodes (see setNodeLink). */
  hubNamespace: string;
  /** The image ID of each image loaded, by the name it has on the main engine. */
  imageIds: Record<string, string>;
  /** Milliseconds taken by each setup phase. */
  timings: Record<string, number>;
  /** Takes node `index` off the cluster's network (its veth goes down) or back on. */
  setNodeLink(index: number, up: boolean): Promise<void>;
  teardown(): Promise<void>;
}

export interface SwarmClusterOptions {
  nodes?: number;
  /** Images of the main engine to load into every node. */
  images?: string[];
  /** The engine holding those images (default: the main engine from the environment). */
  source?: Dockerode;
}

async function ip(...args: string[]): Promise<void> {
  await sh('ip', args);
}

/** Takes node `index` of the cluster whose bridge is in `hubNamespace` off its network (its veth goes down) or back on. */
export async function setNodeLink(hubNamespace: string, index: number, up: boolean): Promise<void> {
  await ip('-n', hubNamespace, 'link', 'set', `h${index + 1}`, up ? 'up' : 'down');
}

/**
 * Stops node `index`'s engine of cluster `id` (as a crash or a shutdown of its machine would: the swarm loses that
 * manager) or starts it again on its own state, where it rejoins the swarm.
 */
export async function setNodeEngine(id: string, index: number, up: boolean): Promise<void> {
  const node = clusterLayout(id, index + 1).nodes[index]!;
  if (up) await startDaemon(node);
  else await stopDaemon(node);
}

async function wireNetwork(layout: ClusterLayout): Promise<void> {
  const hub = layout.hubNamespace;
  await ip('netns', 'add', hub);
  await ip('-n', hub, 'link', 'set', 'lo', 'up');
  await ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge');
  await ip('-n', hub, 'link', 'set', 'br0', 'up');
  for (const [index, node] of layout.nodes.entries()) {
    await ip('netns', 'add', node.namespace);
    // Both ends are made inside our namespaces: nothing touches the host's own network.
    await ip('-n', hub, 'link', 'add', `h${index + 1}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.namespace);
    await ip('-n', hub, 'link', 'set', `h${index + 1}`, 'master', 'br0', 'up');
    await ip('-n', node.namespace, 'link', 'set', 'lo', 'up');
    await ip('-n', node.namespace, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0');
    await ip('-n', node.namespace, 'link', 'set', 'eth0', 'up');
  }
}

async function startDaemon(node: NodeLayout): Promise<Dockerode> {
  await mkdir(node.dataRoot, { recursive: true });
  await mkdir(node.execRoot, { recursive: true });
  await writeFile(node.configFile, JSON.stringify(daemonConfig(node), null, 2));
  const log = await open(node.logFile, 'a');
  const args = [`--net=/run/netns/${node.namespace}`, 'dockerd', '--config-file', node.configFile, '--data-root', node.dataRoot];
  args.push('--exec-root', node.execRoot, '--pidfile', node.pidFile, '-H', `unix://${node.socket}`);
  const child = spawn('nsenter', args, { detached: true, stdio: ['ignore', log.fd, log.fd] });
  child.unref();
  await log.close();
  const docker = new Dockerode({ socketPath: node.socket });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await docker.ping();
      return docker;
    } catch (error) {
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`dockerd of ${node.name} did not come up (log: ${node.logFile})`, { cause: error });
      }
      await delay(100);
    }
  }
}

async function formSwarm(layout: ClusterLayout, engines: Dockerode[]): Promise<void> {
  const [first, ...others] = engines;
  const leader = layout.nodes[0]!;
  await first!.swarmInit({ ListenAddr: `${leader.address}:2377`, AdvertiseAddr: leader.address, DefaultAddrPool: ['10.214.0.0/16'], SubnetSize: 24 });
  const swarm = (await first!.swarmInspect()) as { JoinTokens: { Manager: string } };
  // One at a time: raft adds one manager per configuration change.
  for (const [index, engine] of others.entries()) {
    const node = layout.nodes[index + 1]!;
    await engine.swarmJoin({ ListenAddr: `${node.address}:2377`, AdvertiseAddr: node.address, RemoteAddrs: [`${leader.address}:2377`], JoinToken: swarm.JoinTokens.Manager });
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const nodes = (await first!.listNodes()) as { Status: { State: string }; ManagerStatus?: { Reachability: string } }[];
    const ready = nodes.filter((n) => n.Status.State === 'ready' && n.ManagerStatus?.Reachability === 'reachable');
    if (ready.length === engines.length) return;
    if (Date.now() > deadline) throw new Error(`only ${ready.length} of ${engines.length} swarm managers became ready`);
    await delay(200);
  }
}

/** Starts the cluster; on any failure, tears down what was made and rethrows. */
export async function startSwarmCluster(options: SwarmClusterOptions = {}): Promise<SwarmCluster> {
  await sweepLeftovers();
  const id = randomBytes(3).toString('hex');
  const layout = clusterLayout(id, options.nodes ?? 3);
  const timings: Record<string, number> = {};
  let mark = Date.now();
  const phase = (name: string) => {
    timings[name] = Date.now() - mark;
    mark = Date.now();
  };
  // The state file comes first, so a sweep by another process never takes a cluster being built for a leftover.
  await mkdir(layout.stateDir, { recursive: true });
  await writeFile(join(layout.stateDir, 'state.json'), JSON.stringify({ ownerPid: process.pid, nodeCount: layout.nodes.length }));
  try {
    await wireNetwork(layout);
    phase('network');
    const engines = await Promise.all(layout.nodes.map((node) => startDaemon(node)));
    phase('daemons');
    await formSwarm(layout, engines);
    phase('swarm');
    const imageIds = await loadImages(options.source ?? new Dockerode(), engines, options.images ?? [], layout.dataDir);
    phase('images');
    timings.total = Object.values(timings).reduce((sum, ms) => sum + ms, 0);
    return {
      id,
      sockets: layout.nodes.map((node) => node.socket),
      namespaces: layout.nodes.map((node) => node.namespace),
      hubNamespace: layout.hubNamespace,
      imageIds,
      timings,
      setNodeLink: (index, up) => setNodeLink(layout.hubNamespace, index, up),
      teardown: () => teardownCluster(id, layout.nodes.length),
    };
  } catch (error) {
    await teardownCluster(id, layout.nodes.length);
    throw error;
  }
}

export { SUBNET_PREFIX };
