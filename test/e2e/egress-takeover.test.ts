// A run with network grants whose server is killed for good is finished by another server (SPEC §13): its container
// and the dead server's egress proxy carry on until it ends, its counts read through that proxy; then nothing of that
// server's egress is left. Its destination is a container on the dead server's outbound network.
import Dockerode from 'dockerode';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { EGRESS_COMPONENT_LABEL, egressOutboundNetworkName } from '../../src/sandbox/docker/egress-spec.ts';
import { startDestinationContainer } from '../helpers/egress-destinations.ts';
import { INSTANCE_LABEL } from '../../src/sandbox/labels.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun } from '../helpers/poll-run.ts';
import { apiCaller } from '../helpers/server-process.ts';
import { startServerGroup, type ServerGroup } from '../helpers/server-group.ts';

const docker = new Dockerode();
let repo: TestRepo;
let group: ServerGroup | undefined;
const DESTINATION = `egress-takeover-${randomUUID().slice(0, 8)}`;
// The destination's address is on the dead server's outbound network, made at its start: its range is not known before.
const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map((range) => `${range}:8080`).join(',');
const removeDestination = () => docker.getContainer(DESTINATION).remove({ force: true }).catch(() => undefined);

beforeAll(() => {
  repo = new TestRepo({
    'sandrun.yaml': `image: sandrun/python:3.11\nnetwork:\n  allow: ["${DESTINATION}:8080"]\nmodels:\n  granted:\n    command: [python3, granted.py]\n`,
    // Reaches its destination only after its server's death, through that server's proxy.
    'granted.py': [
      'import json, os, time, urllib.request',
      'print("start", "proxy" if os.environ.get("HTTP_PROXY") else "none", flush=True)',
      'time.sleep(8)',
      `print("answer", urllib.request.urlopen("http://${DESTINATION}:8080/", timeout=20).read().decode(), flush=True)`,
      'json.dump({"done": True}, open("/outputs/result.json", "w"))',
      '',
    ].join('\n'),
  });
});
afterAll(async () => {
  await removeDestination();
  await group?.close();
  repo.remove();
}, 120_000);

/** What of server i's engine instance is on the engine: its run containers, its egress run networks, its proxy. */
async function leftOf(instanceId: string) {
  const ofInstance = `${INSTANCE_LABEL}=${instanceId}`;
  const containers = await docker.listContainers({ all: true, filters: { label: ['sandrun.managed=true', ofInstance] } });
  const runNetworks = await docker.listNetworks({ filters: { label: [`${EGRESS_COMPONENT_LABEL}=run`, ofInstance] } });
  const proxies = await docker.listContainers({ all: true, filters: { label: [`${EGRESS_COMPONENT_LABEL}=proxy`, ofInstance] } });
  const networks = await docker.listNetworks({ filters: { label: [ofInstance] } });
  return { containers: containers.length, runNetworks: runNetworks.length, proxies: proxies.length, networks: networks.map((network) => network.Name) };
}

describe('a run with network grants on a server killed for good', () => {
  it('is finished by another server with its full output and what it moved, and then the dead server leaves no proxy, network or container', async () => {
    group = await startServerGroup(2, { SANDRUN_HEARTBEAT_SECONDS: '1', SANDRUN_SERVER_DEAD_SECONDS: '4', SANDRUN_EGRESS_ALLOW: `${DESTINATION}:8080,${PRIVATE_RANGES}` });
    const token = await group.token('egress-takeover');
    const on = (index: number) => apiCaller(() => group!.url(index), () => token);
    expect((await on(0)('POST', '/v1/projects', { name: 'granted', repo_url: repo.dir })).status).toBe(201);
    const run = (await on(1)('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'granted', model_name: 'granted' })).body;
    await pollRun(() => on(1)('GET', `/v1/runs/${run.run_id}`), run.run_id, { until: ['running'] });
    const deadInstance = readFileSync(join(group.settings(1).SANDRUN_DATA_DIR!, 'instance-id'), 'utf8').trim();
    expect((await leftOf(deadInstance)).proxies, "the server's egress proxy, before its death").toBe(1);
    await startDestinationContainer(docker, DESTINATION, egressOutboundNetworkName(deadInstance), {});

    await group.kill(1);
    const ended = await pollRun(() => on(0)('GET', `/v1/runs/${run.run_id}`), run.run_id, { timeoutMs: 120_000 });
    expect(ended, JSON.stringify(ended)).toMatchObject({ status: 'success', exit_code: 0, outputs: { result: { done: true } } });
    expect(ended.stdout, 'its whole output, through the dead server’s proxy').toBe(`start proxy\nanswer ${DESTINATION}:8080\n`);
    expect(ended.egress, 'what it moved, counted by the dead server’s proxy').toEqual([{ host: DESTINATION, port: 8080, bytes_out: expect.any(Number), bytes_in: expect.any(Number) }]);
    expect(ended.egress[0].bytes_out, 'bytes sent').toBeGreaterThan(0);
    expect(ended.egress[0].bytes_in, 'bytes received: at least the answer').toBeGreaterThan(`${DESTINATION}:8080`.length);
    // Its grant ended (its credential no longer works) and its counts were taken, in the dead server's data directory.
    const egressDir = join(group.settings(1).SANDRUN_DATA_DIR!, 'egress');
    expect(['grants', 'counts'].filter((dir) => existsSync(join(egressDir, dir, `${run.run_id}.json`))), 'the run’s files left in the dead server’s egress directory').toEqual([]);
    // It is on the dead server's outbound network, which goes with that server's proxy.
    await removeDestination();

    const deadline = Date.now() + 90_000;
    let left = await leftOf(deadInstance);
    while ((left.containers > 0 || left.runNetworks > 0 || left.proxies > 0 || left.networks.length > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      left = await leftOf(deadInstance);
    }
    expect(left, 'what the dead server left on the engine').toEqual({ containers: 0, runNetworks: 0, proxies: 0, networks: [] });
  }, 300_000);
});
