// A run with network grants whose server is killed for good is finished by another server (SPEC §13): its container
// and the dead server's egress proxy carry on until it ends; then nothing of that server's egress is left.
import Dockerode from 'dockerode';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EGRESS_COMPONENT_LABEL } from '../../src/sandbox/docker/egress-spec.ts';
import { INSTANCE_LABEL } from '../../src/sandbox/labels.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun } from '../helpers/poll-run.ts';
import { apiCaller } from '../helpers/server-process.ts';
import { startServerGroup, type ServerGroup } from '../helpers/server-group.ts';

const docker = new Dockerode();
let repo: TestRepo;
let group: ServerGroup | undefined;

beforeAll(() => {
  repo = new TestRepo({
    'sandrun.yaml': 'image: sandrun/python:3.11\nnetwork:\n  allow: ["api.example.com:443"]\nmodels:\n  granted:\n    command: [python3, granted.py]\n',
    'granted.py': 'import json, os, time\nprint("start", "proxy" if os.environ.get("HTTPS_PROXY") else "none", flush=True)\ntime.sleep(8)\nprint("end", flush=True)\njson.dump({"done": True}, open("/outputs/result.json", "w"))\n',
  });
});
afterAll(async () => {
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
  it('is finished by another server with its full output, and then the dead server leaves no proxy, network or container', async () => {
    group = await startServerGroup(2, { SANDRUN_HEARTBEAT_SECONDS: '1', SANDRUN_SERVER_DEAD_SECONDS: '4', SANDRUN_EGRESS_ALLOW: 'api.example.com:443' });
    const token = await group.token('egress-takeover');
    const on = (index: number) => apiCaller(() => group!.url(index), () => token);
    expect((await on(0)('POST', '/v1/projects', { name: 'granted', repo_url: repo.dir })).status).toBe(201);
    const run = (await on(1)('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'granted', model_name: 'granted' })).body;
    await pollRun(() => on(1)('GET', `/v1/runs/${run.run_id}`), run.run_id, { until: ['running'] });
    const deadInstance = readFileSync(join(group.settings(1).SANDRUN_DATA_DIR!, 'instance-id'), 'utf8').trim();
    expect((await leftOf(deadInstance)).proxies, "the server's egress proxy, before its death").toBe(1);

    await group.kill(1);
    const ended = await pollRun(() => on(0)('GET', `/v1/runs/${run.run_id}`), run.run_id, { timeoutMs: 120_000 });
    expect(ended, JSON.stringify(ended)).toMatchObject({ status: 'success', exit_code: 0, outputs: { result: { done: true } } });
    expect(ended.stdout, 'its whole output, through the dead server’s proxy').toBe('start proxy\nend\n');

    const deadline = Date.now() + 90_000;
    let left = await leftOf(deadInstance);
    while ((left.containers > 0 || left.runNetworks > 0 || left.proxies > 0 || left.networks.length > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      left = await leftOf(deadInstance);
    }
    expect(left, 'what the dead server left on the engine').toEqual({ containers: 0, runNetworks: 0, proxies: 0, networks: [] });
  }, 300_000);
});
