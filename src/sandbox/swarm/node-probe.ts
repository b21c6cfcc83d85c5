// One short container on a node's own engine, made with no security options: it reads what the daemon gives every container by default.
import type Dockerode from 'dockerode';
import { randomUUID } from 'node:crypto';
import { SandrunError } from '../../errors.ts';
import { RUN_USER } from '../container-layout.ts';
import { engineError, isNotFound } from '../engine-errors.ts';
import { INSTANCE_LABEL, MANAGED_LABEL, RUN_ID_LABEL } from '../labels.ts';
import { StreamDemux } from '../stream-demux.ts';
import { PROBE_COMMAND, parseProbe, type EngineInfo, type NodeFacts, type ProbeFacts } from './node-hardening.ts';

const MiB = 1024 * 1024;

/**
 * Runs PROBE_COMMAND in `image` on the node. Under runc whatever the node's default runtime: gVisor shows its own
 * /proc/meminfo, and the flags read here are the daemon's, which it hands to every runtime alike.
 */
export async function probeNode(engine: Dockerode, node: string, image: string, instanceId: string): Promise<ProbeFacts> {
  let container: Dockerode.Container;
  try {
    container = await engine.createContainer({
      name: `sandrun-probe-${randomUUID()}`,
      Image: image,
      Entrypoint: [],
      Cmd: PROBE_COMMAND,
      User: RUN_USER,
      Labels: { [MANAGED_LABEL]: 'true', [INSTANCE_LABEL]: instanceId, [RUN_ID_LABEL]: 'probe' },
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: 'none',
        CapDrop: ['ALL'],
        ReadonlyRootfs: true,
        Memory: 32 * MiB,
        MemorySwap: 32 * MiB,
        PidsLimit: 16,
        Runtime: 'runc',
        LogConfig: { Type: 'json-file', Config: {} },
      },
    });
  } catch (error) {
    if (isNotFound(error)) throw new SandrunError('image_unavailable', `image ${image} is not present on swarm node ${node} (load it on every node)`, undefined, { cause: error });
    throw engineError(error, `probing the defaults of swarm node ${node}`);
  }
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const raw: Buffer = await container.logs({ stdout: true, stderr: true, follow: false });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    new StreamDemux((chunk) => out.push(Buffer.from(chunk)), (chunk) => err.push(Buffer.from(chunk))).push(raw);
    if (StatusCode !== 0) {
      throw new SandrunError('engine_unavailable', `the probe of swarm node ${node} exited ${StatusCode}: ${Buffer.concat(err).toString('utf8').slice(0, 300)}`);
    }
    return parseProbe(Buffer.concat(out).toString('utf8'));
  } catch (error) {
    throw engineError(error, `probing the defaults of swarm node ${node}`);
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/** Everything the hardening check reads of one node: its engine's info and networks, and the probe. */
export async function readNodeFacts(engine: Dockerode, node: string, image: string, instanceId: string): Promise<NodeFacts> {
  const info = (await engine.info().catch((error: unknown) => Promise.reject(engineError(error, `asking swarm node ${node} for its settings`)))) as EngineInfo;
  const networks = (await engine.listNetworks().catch((error: unknown) => Promise.reject(engineError(error, `listing the networks of swarm node ${node}`)))) as NodeFacts['networks'];
  return { info, networks, probe: await probeNode(engine, node, image, instanceId) };
}
