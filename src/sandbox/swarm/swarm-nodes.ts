// The swarm's nodes as the backend needs them: each node's own engine, checked to give runs no network before any run.
import type Dockerode from 'dockerode';
import { SandrunError } from '../../errors.ts';
import { engineError } from '../engine-errors.ts';

interface NodeInfo {
  ID: string;
  Description?: { Hostname?: string };
  Status: { State: string; Addr?: string };
  Spec: { Availability: string };
}

export interface SwarmNode {
  nodeId: string;
  engine: Dockerode;
}

export class SwarmNodes {
  private verified: Promise<Map<string, SwarmNode>> | undefined;
  private verifiedFor = '';

  constructor(
    private readonly manager: Dockerode,
    private readonly engines: Dockerode[],
    private readonly runtime: 'runc' | 'runsc',
  ) {}

  async listNodes(): Promise<NodeInfo[]> {
    try {
      return (await this.manager.listNodes()) as NodeInfo[];
    } catch (error) {
      throw engineError(error, 'listing the swarm nodes');
    }
  }

  /**
   * Every node that can take tasks, with its engine, after checking each engine: a default bridge would
   * give tasks a network (services cannot ask for `none`), and the runtime is a node-wide choice.
   * Checked again whenever the set of nodes changes.
   */
  async ready(): Promise<Map<string, SwarmNode>> {
    const nodes = (await this.listNodes()).filter((n) => n.Spec.Availability === 'active' && n.Status.State === 'ready');
    const key = nodes.map((n) => n.ID).sort().join(',');
    if (!this.verified || key !== this.verifiedFor) {
      this.verifiedFor = key;
      this.verified = this.verify(nodes);
      this.verified.catch(() => (this.verified = undefined));
    }
    return this.verified;
  }

  private async verify(nodes: NodeInfo[]): Promise<Map<string, SwarmNode>> {
    const byId = new Map<string, SwarmNode>();
    for (const engine of this.engines) {
      const info = (await engine.info().catch((error: unknown) => Promise.reject(engineError(error, 'asking a swarm node engine')))) as {
        Swarm?: { NodeID?: string };
        DefaultRuntime?: string;
      };
      const nodeId = info.Swarm?.NodeID;
      if (!nodeId) continue;
      const networks = (await engine.listNetworks()) as { Name: string; Driver: string }[];
      if (networks.some((network) => network.Name === 'bridge' && network.Driver === 'bridge')) {
        throw new SandrunError('engine_unavailable', `swarm node ${nodeId} has a default bridge network: its runs would have network access; run its dockerd with "bridge": "none"`);
      }
      if ((info.DefaultRuntime ?? 'runc') !== this.runtime) {
        throw new SandrunError('engine_unavailable', `swarm node ${nodeId} runs containers with ${info.DefaultRuntime}, not the configured ${this.runtime}`);
      }
      byId.set(nodeId, { nodeId, engine });
    }
    const missing = nodes.filter((n) => !byId.has(n.ID));
    if (missing.length > 0) {
      const names = missing.map((n) => `${n.ID} (${n.Description?.Hostname ?? n.Status.Addr ?? '?'})`).join(', ');
      throw new SandrunError('engine_unavailable', `swarm node(s) ${names} are not among SANDRUN_SWARM_NODE_HOSTS: runs there could neither get their workspace nor be checked for network isolation`);
    }
    return byId;
  }

  /** The node's state as the manager sees it ('ready', 'down', 'unknown', 'disconnected'). */
  async stateOf(nodeId: string): Promise<string> {
    const node = (await this.manager.getNode(nodeId).inspect()) as NodeInfo;
    return node.Status.State;
  }
}
