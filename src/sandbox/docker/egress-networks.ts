// Taking down what an engine instance's egress holds: a run's network, the networks its runs left, the proxy itself.
// By instance, not by supervisor: a server also takes down what a dead server's runs leave (docker-backend.ts reap).
import type Dockerode from 'dockerode';
import { engineError, isNotFound } from '../engine-errors.ts';
import { INSTANCE_LABEL } from '../labels.ts';
import { EGRESS_COMPONENT_LABEL, EGRESS_OWNER_LABEL, egressOutboundNetworkOptions, egressProxyName, egressRunNetworkName } from './egress-spec.ts';

/** Engine answers that mean "already there" or "already gone": what a repeated setup or teardown finds. */
export const isConflict = (error: unknown) => (error as { statusCode?: number }).statusCode === 409;

/** Takes the proxy and whatever else is still on it off the container's network (`owner`: its run or pool slot) and removes the network. */
export async function removeRunNetwork(docker: Dockerode, owner: string): Promise<void> {
  const network = docker.getNetwork(egressRunNetworkName(owner));
  const members = await network.inspect().then(
    (info: { Containers?: Record<string, unknown> }) => Object.keys(info.Containers ?? {}),
    (error: unknown) => (isNotFound(error) ? undefined : Promise.reject(engineError(error, `inspecting the egress network of container sandrun-${owner}`))),
  );
  if (members === undefined) return;
  for (const container of members) {
    await network.disconnect({ Container: container, Force: true }).catch((error: unknown) => {
      if (!isNotFound(error) && !isConflict(error)) throw engineError(error, `disconnecting ${container} from the egress network of container sandrun-${owner}`);
    });
  }
  await network.remove().catch((error: unknown) => {
    if (!isNotFound(error)) throw engineError(error, `removing the egress network of container sandrun-${owner}`);
  });
}

/**
 * Removes the instance's run networks made before `bornBefore` on which nothing but its proxy is left (a process
 * killed before it removed one, or a removal that failed): how many it removed, and how many it left (in use, or
 * too young). A network in use has its container on it.
 */
export async function sweepRunNetworks(docker: Dockerode, instanceId: string, bornBefore: number): Promise<{ removed: number; left: number }> {
  const networks = await docker
    .listNetworks({ filters: { label: [`${EGRESS_COMPONENT_LABEL}=run`, `${INSTANCE_LABEL}=${instanceId}`] } })
    .catch((error: unknown) => Promise.reject(engineError(error, 'listing egress networks')));
  const proxy = egressProxyName(instanceId);
  let left = 0;
  let removed = 0;
  for (const listed of networks) {
    const owner = listed.Labels?.[EGRESS_OWNER_LABEL];
    if (!owner || !(Date.parse(listed.Created) <= bornBefore)) {
      left += 1;
      continue;
    }
    // The listing does not say who is on a network; its inspection does.
    const info = await docker
      .getNetwork(listed.Id)
      .inspect()
      .catch((error: unknown) => (isNotFound(error) ? undefined : Promise.reject(engineError(error, `inspecting egress network ${listed.Name}`))));
    const members = Object.values((info as { Containers?: Record<string, { Name: string }> } | undefined)?.Containers ?? {});
    if (!info) continue;
    if (members.some((member) => member.Name !== proxy)) {
      left += 1;
      continue;
    }
    await removeRunNetwork(docker, owner);
    removed += 1;
  }
  return { removed, left };
}

/** Removes the instance's proxy and its outbound network (its runs with grants must be over). */
export async function removeEgressProxy(docker: Dockerode, instanceId: string): Promise<void> {
  await docker
    .getContainer(egressProxyName(instanceId))
    .remove({ force: true })
    .catch((error: unknown) => {
      if (!isNotFound(error)) throw engineError(error, 'removing the egress proxy');
    });
  await docker
    .getNetwork(egressOutboundNetworkOptions(instanceId).Name)
    .remove()
    .catch((error: unknown) => {
      if (!isNotFound(error)) throw engineError(error, 'removing the egress outbound network');
    });
}
