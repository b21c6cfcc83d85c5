// Around the whole suite: the engine must answer before, and no sandrun container may remain after.
import Dockerode from 'dockerode';

const docker = new Dockerode();

async function managedContainers(): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: ['sandrun.managed=true'] } });
  return list.map((c) => `${c.Names.join(',')} (${c.State})`);
}

export async function setup(): Promise<void> {
  await docker.ping();
}

export async function teardown(): Promise<void> {
  // Runs still being torn down by a killed test get a moment to go.
  for (let attempt = 0; attempt < 20; attempt += 1) {
    if ((await managedContainers()).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const left = await managedContainers();
  throw new Error(`${left.length} container(s) labelled sandrun.managed=true remain after the suite: ${left.join('; ')}`);
}
