// The swarm's nodes as the backend needs them: each node's own engine, checked before the first run to hold runs as hardened as the Docker backend does.
import type Dockerode from 'dockerode';
import { SandrunError } from '../../errors.ts';
import { engineError } from '../engine-errors.ts';
import { tlsFailure } from './engine-client.ts';
import { assertNodeHardened, serviceFeatures, type EngineInfo, type ServiceFeatures } from './node-hardening.ts';
import { readNodeFacts } from './node-probe.ts';

interface NodeInfo {
  ID: string;
  Description?: { Hostname?: string };
  Status: { State: string; Addr?: string };
  Spec: { Availability: string };
}

export interface SwarmNode {
  nodeId: string;
  engine: Dockerode;
  /** How messages name it: its host name, ID and engine address. */
  label: string;
}

/** A node's engine as configured (SANDRUN_SWARM_NODE_HOSTS). */
export interface NodeEngine {
  host: string;
  engine: Dockerode;
}

export interface HardenedNodes {
  nodes: Map<string, SwarmNode>;
  /** What every service spec may set itself on this cluster (the rest was checked on each node). */
  features: ServiceFeatures;
}

interface Mapped {
  key: string;
  nodes: Map<string, SwarmNode>;
  /** The nodes that can take tasks now: the ones checked. */
  readyIds: Set<string>;
}

export class SwarmNodes {
  private mapped: Promise<Mapped> | undefined;
  private mappedFor = '';
  private hardenedNodes: Promise<HardenedNodes> | undefined;
  private hardenedFor = '';

  constructor(
    private readonly manager: Dockerode,
    private readonly engines: NodeEngine[],
    private readonly runtime: 'runc' | 'runsc',
    private readonly instanceId: string,
  ) {}

  async listNodes(): Promise<NodeInfo[]> {
    try {
      return (await this.manager.listNodes()) as NodeInfo[];
    } catch (error) {
      throw engineError(error, 'listing the swarm nodes');
    }
  }

  /** Every node that can take tasks, with its engine; mapped again whenever the set of nodes changes. */
  async ready(): Promise<Map<string, SwarmNode>> {
    return (await this.current()).nodes;
  }

  /**
   * The nodes, once each engine was checked for every setting a run relies on that its service spec cannot carry
   * (node-hardening.ts); the check runs a probe container from `probeImage`, once per set of nodes.
   */
  async hardened(probeImage: string): Promise<HardenedNodes> {
    const mapped = await this.current();
    if (!this.hardenedNodes || this.hardenedFor !== mapped.key) {
      this.hardenedFor = mapped.key;
      const checking = this.check(mapped, probeImage);
      this.hardenedNodes = checking;
      checking.catch(() => {
        if (this.hardenedNodes === checking) this.hardenedNodes = undefined;
      });
    }
    return this.hardenedNodes;
  }

  private async current(): Promise<Mapped> {
    const nodes = (await this.listNodes()).filter((n) => n.Spec.Availability === 'active' && n.Status.State === 'ready');
    const key = nodes.map((n) => n.ID).sort().join(',');
    if (!this.mapped || key !== this.mappedFor) {
      this.mappedFor = key;
      const mapping = this.map(nodes, key);
      this.mapped = mapping;
      mapping.catch(() => {
        if (this.mapped === mapping) this.mapped = undefined;
      });
    }
    return this.mapped;
  }

  private async map(nodes: NodeInfo[], key: string): Promise<Mapped> {
    const byId = new Map<string, SwarmNode>();
    // An engine that does not answer is left out while no ready node lacks one: its node was lost (the manager will
    // report it down), and runs go to the others meanwhile.
    const unanswered: SandrunError[] = [];
    for (const { host, engine } of this.engines) {
      const info = (await engine.info().catch((error: unknown) => void unanswered.push(tlsFailure(error, host) ?? engineError(error, `asking the swarm node engine at ${host}`)))) as EngineInfo | undefined;
      const nodeId = info?.Swarm?.NodeID;
      if (!info || !nodeId) continue;
      byId.set(nodeId, { nodeId, engine, label: `${info.Name ?? '?'} (${nodeId} at ${host})` });
    }
    const missing = nodes.filter((n) => !byId.has(n.ID));
    if (missing.length > 0 && unanswered.length > 0) throw unanswered[0]!;
    if (missing.length > 0) {
      const names = missing.map((n) => `${n.ID} (${n.Description?.Hostname ?? n.Status.Addr ?? '?'})`).join(', ');
      throw new SandrunError('engine_unavailable', `swarm node(s) ${names} are not among SANDRUN_SWARM_NODE_HOSTS: runs there could neither get their workspace nor be checked for network isolation`);
    }
    return { key, nodes: byId, readyIds: new Set(nodes.map((n) => n.ID)) };
  }

  private async check(mapped: Mapped, probeImage: string): Promise<HardenedNodes> {
    const versionOf = async (engine: Dockerode, what: string) => {
      try {
        return (await engine.version()).ApiVersion;
      } catch (error) {
        throw engineError(error, `asking ${what} for its API version`);
      }
    };
    const nodes = [...mapped.nodes.values()].filter((node) => mapped.readyIds.has(node.nodeId));
    const versions = await Promise.all([versionOf(this.manager, 'the swarm manager'), ...nodes.map((node) => versionOf(node.engine, `swarm node ${node.label}`))]);
    const features = serviceFeatures(versions);
    await Promise.all(
      nodes.map(async (node) => {
        assertNodeHardened(node.label, await readNodeFacts(node.engine, node.label, probeImage, this.instanceId), this.runtime, features);
      }),
    );
    return { nodes: mapped.nodes, features };
  }

  /** The node's state as the manager sees it ('ready', 'down', 'unknown', 'disconnected'). */
  async stateOf(nodeId: string): Promise<string> {
    const node = (await this.manager.getNode(nodeId).inspect()) as NodeInfo;
    return node.Status.State;
  }
}
