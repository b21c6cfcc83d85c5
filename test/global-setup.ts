// Around the whole suite: the engine must answer before, and no sandrun container may remain after; the shared
// swarm cluster (swarm-cluster.ts) is served to the test files and torn down at the end if one asked for it.
import Dockerode from 'dockerode';
import type { TestProject } from 'vitest/node';
import { serveSharedCluster } from './helpers/swarm-cluster.ts';

const docker = new Dockerode();
let cluster: Awaited<ReturnType<typeof serveSharedCluster>> | undefined;

async function managedContainers(): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: ['sandrun.managed=true'] } });
  return list.map((c) => `${c.Names.join(',')} (${c.State})`);
}

export async function setup(project: TestProject): Promise<void> {
  await docker.ping();
  cluster = await serveSharedCluster();
  project.provide('swarmClusterUrl', cluster.url);
}

export async function teardown(): Promise<void> {
  let clusterLeft: Error | undefined;
  await cluster?.close().catch((error: Error) => (clusterLeft = error));
  // Runs still being torn down by a killed test get a moment to go.
  let left = await managedContainers();
  for (let attempt = 0; attempt < 20 && left.length > 0; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    left = await managedContainers();
  }
  if (left.length > 0) throw new Error(`${left.length} container(s) labelled sandrun.managed=true remain after the suite: ${left.join('; ')}`);
  if (clusterLeft) throw clusterLeft;
}
