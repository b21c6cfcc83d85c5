// Runs with network grants through the API (SPEC §11), on the real engine: the granted server is reached through the
// proxy and counted; nothing else is; a run without grants has no network; the proxy dying mid-run costs the run
// its connection, not the server, and comes back. Every destination is a container on a network this test makes.
import Dockerode from 'dockerode';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { egressOutboundNetworkName, egressOutboundNetworkOptions, egressProxyName, EGRESS_COMPONENT_LABEL } from '../../src/sandbox/docker/egress-spec.ts';
import type { DockerBackend } from '../../src/sandbox/docker/docker-backend.ts';
import { openBrowser } from '../helpers/chromium.ts';
import { startDestinationContainer } from '../helpers/egress-destinations.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { runLogEvents } from '../helpers/run-log-events.ts';

const docker = new Dockerode();
const instanceId = randomUUID();
const TEST_LABEL = 'sandrun.egress-test';
const servers = { allowed: `egress-allowed-${instanceId.slice(0, 8)}`, other: `egress-other-${instanceId.slice(0, 8)}` };
const addresses: Record<string, string> = {};

/** The run's probes: through the proxy (as HTTP_PROXY says) and directly; each outcome into outputs. */
const PROBE_MODEL = `
import json, os, socket, urllib.request, urllib.error

params = json.load(open(os.environ['SANDRUN_PARAMETERS']))

def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return {'status': answer.status, 'body': answer.read().decode()}
    except urllib.error.HTTPError as error:
        return {'status': error.code}
    except Exception as error:
        return {'error': type(error).__name__}

def direct(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return {'connected': True}
    except Exception as error:
        return {'connected': False, 'error': type(error).__name__}

results = {
    'proxy_set': 'HTTP_PROXY' in os.environ,
    'interfaces': sorted(line.split(':')[0].strip() for line in open('/proc/net/dev').read().splitlines()[2:]),
}
if results['proxy_set']:
    results['granted'] = get('http://%s:8080/' % params['allowed'])
    results['other_port'] = get('http://%s:8081/' % params['allowed'])
    results['other_host'] = get('http://%s:8080/' % params['other'])
    results['by_address'] = get('http://%s:8080/' % params['allowed_address'])
    results['host_through_proxy'] = get('http://%s:%d/' % (params['host_gateway'], params['host_port']))
results['direct_granted'] = direct(params['allowed_address'], 8080)
results['direct_host'] = direct(params['host_gateway'], params['host_port'])
json.dump(results, open(os.path.join(os.environ['SANDRUN_OUTPUTS'], 'probes.json'), 'w'))
print(json.dumps(results))
`;

/**
 * Holds one connection through the proxy; once it breaks (the proxy died), tries new ones until the proxy answers
 * again. What happened goes into outputs.
 */
const SURVIVE_MODEL = `
import base64, http.client, json, os, time, urllib.parse

params = json.load(open(os.environ['SANDRUN_PARAMETERS']))
proxy = urllib.parse.urlsplit(os.environ['HTTP_PROXY'])

def connection():
    conn = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=5)
    credential = '%s:%s' % (urllib.parse.unquote(proxy.username), urllib.parse.unquote(proxy.password))
    conn.set_tunnel('%s:8080' % params['allowed'], headers={'Proxy-Authorization': 'Basic ' + base64.b64encode(credential.encode()).decode()})
    return conn

def ask(conn):
    conn.request('GET', '/', headers={'Connection': 'keep-alive'})
    return conn.getresponse().read().decode()

result = {}
conn = connection()
result['first'] = ask(conn)
print('tunnel up', flush=True)
deadline = time.time() + 90
while time.time() < deadline:
    try:
        ask(conn)
        time.sleep(0.2)
    except Exception as error:
        result['broke'] = type(error).__name__
        break
while 'broke' in result and time.time() < deadline:
    try:
        result['again'] = ask(connection())
        break
    except Exception:
        time.sleep(0.5)
json.dump(result, open(os.path.join(os.environ['SANDRUN_OUTPUTS'], 'survive.json'), 'w'))
print(json.dumps(result))
`;

let server: TestServer;
let token: string;
let repo: TestRepo;
let closedRepo: TestRepo;
let hostService: Server;
let hostPort = 0;
let outboundGateway = '';
const hostConnections: string[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-egress-runs-'));

async function startDestination(name: string): Promise<void> {
  addresses[name] = await startDestinationContainer(docker, name, egressOutboundNetworkName(instanceId), { [TEST_LABEL]: instanceId });
}

const probeParameters = () => ({
  allowed: servers.allowed,
  other: servers.other,
  allowed_address: addresses[servers.allowed],
  host_gateway: outboundGateway,
  host_port: hostPort,
});

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));

/** The CLI against the test server, as its user; its stdout. */
function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, SANDRUN_URL: server.url, SANDRUN_TOKEN: token, NO_COLOR: '1' }, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`sandrun ${args.join(' ')}: ${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

/** The live logs of a running run so far (SSE without follow). */
function logsSoFar(runId: string): Promise<string> {
  return runLogEvents(server.url, token, runId);
}

/** Each run network of this server, with the containers on it other than the proxy. */
async function runNetworkMembers(): Promise<Record<string, string[]>> {
  const listed = await docker.listNetworks({ filters: { label: [`${EGRESS_COMPONENT_LABEL}=run`, `sandrun.instance=${instanceId}`] } });
  const members: Record<string, string[]> = {};
  for (const network of listed) {
    const info = await docker.getNetwork(network.Id).inspect().catch(() => undefined);
    if (!info) continue;
    members[network.Name] = Object.values((info.Containers ?? {}) as Record<string, { Name: string }>).map((member) => member.Name).filter((name) => name !== egressProxyName(instanceId));
  }
  return members;
}

const poolHits = () => (server.sandrun.sandbox as DockerBackend).poolStats.hits;

beforeAll(async () => {
  // The server's identity is fixed ahead, so that its proxy's outbound network (which the destinations join) is known.
  writeFileSync(join(dataDir, 'instance-id'), `${instanceId}\n`);
  await docker.createNetwork(egressOutboundNetworkOptions(instanceId));
  const ipam = (await docker.getNetwork(egressOutboundNetworkName(instanceId)).inspect()).IPAM?.Config?.[0];
  if (!ipam?.Subnet || !ipam.Gateway) throw new Error(`the outbound network has no IPv4 range: ${JSON.stringify(ipam)}`);
  outboundGateway = ipam.Gateway;
  await startDestination(servers.allowed);
  await startDestination(servers.other);
  hostService = createServer((socket) => {
    hostConnections.push(String(socket.remoteAddress));
    socket.destroy();
  });
  await new Promise<void>((resolve) => hostService.listen(0, '0.0.0.0', resolve));
  hostPort = (hostService.address() as AddressInfo).port;

  // The operator's rules: the allowed server by name, at 8080, and the destinations' private range at that port only.
  server = await startTestServer({ SANDRUN_EGRESS_ALLOW: `${servers.allowed}:8080,${ipam.Subnet}:8080` }, { dataDir });
  token = await server.token(`egress-runs-${process.pid}`);
  repo = new TestRepo({
    'sandrun.yaml': [
      'image: sandrun/python:3.11',
      'command: [python, probe.py]',
      'network:',
      `  allow: ["${servers.allowed}:8080"]`,
      'models:',
      '  survive:',
      '    command: [python, survive.py]',
      '',
    ].join('\n'),
    'probe.py': PROBE_MODEL,
    'survive.py': SURVIVE_MODEL,
  });
  closedRepo = new TestRepo({ 'sandrun.yaml': 'image: sandrun/python:3.11\ncommand: [python, probe.py]\n', 'probe.py': PROBE_MODEL });
  for (const [name, source] of [['egress', repo], ['closed', closedRepo]] as const) {
    const created = await server.request(token, 'POST', '/v1/projects', { name, repo_url: source.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  await server?.close();
  hostService?.close();
  const mine = await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${instanceId}`] } });
  await Promise.all(mine.map((container) => docker.getContainer(container.Id).remove({ force: true })));
  await docker.getNetwork(egressOutboundNetworkName(instanceId)).remove().catch(() => undefined);
  repo?.remove();
  closedRepo?.remove();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('runs with network grants', () => {
  it('reach the granted host:port through the proxy and nothing else; the result counts what moved', async () => {
    const answer = await server.request(token, 'POST', '/v1/runs', { scope: 'project', mode: 'sync', project_name: 'egress', parameters: probeParameters() });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const run = answer.body;
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe('success');
    const probes = run.outputs.probes;
    expect(probes.proxy_set, 'HTTP_PROXY is set in the run').toBe(true);
    expect(probes.granted, 'the granted server through the proxy').toEqual({ status: 200, body: `${servers.allowed}:8080` });
    expect(probes.other_port?.status, 'the same server at a port not granted to this project').toBe(403);
    expect(probes.other_host?.status, 'another server').toBe(403);
    expect(probes.by_address?.status, 'the granted server by its address').toBe(403);
    expect(probes.host_through_proxy?.status, 'the engine host through the proxy').toBe(403);
    expect(probes.direct_granted?.connected, 'a direct connection to the granted server').toBe(false);
    expect(probes.direct_host?.connected, 'a direct connection to the engine host').toBe(false);
    expect(hostConnections, 'connections the engine host\'s service received').toEqual([]);

    expect(run.egress, 'the result\'s egress').toHaveLength(1);
    expect(run.egress[0]).toMatchObject({ host: servers.allowed, port: 8080 });
    expect(run.egress[0].bytes_out, 'bytes sent to the granted server').toBeGreaterThan(0);
    expect(run.egress[0].bytes_in, 'bytes received from it').toBeGreaterThan(0);
    const stored = await server.request(token, 'GET', `/v1/runs/${run.run_id}`);
    expect(stored.body.egress, 'get_run gives the same counts').toEqual(run.egress);
    const shown = await cli(['runs', 'get', run.run_id]);
    expect(shown, '`sandrun runs get` shows what the run moved').toContain(`network:   ${servers.allowed}:8080  ${run.egress[0].bytes_out} bytes out, ${run.egress[0].bytes_in} bytes in`);
    const browser = await openBrowser();
    try {
      await browser.page.goto(server.url + '/');
      await browser.page.getByLabel('API token').fill(token);
      await browser.page.keyboard.press('Enter');
      await browser.page.getByRole('heading', { name: 'Runs' }).waitFor();
      await browser.page.goto(`${server.url}/#/runs/${run.run_id}`);
      const line = browser.page.locator('#run-egress li');
      await line.first().waitFor();
      expect(await line.allTextContents(), 'the console\'s run page').toEqual([`${servers.allowed}:8080 ${run.egress[0].bytes_out} bytes out, ${run.egress[0].bytes_in} bytes in`]);
      expect(browser.consoleErrors).toEqual([]);
    } finally {
      await browser.close();
    }
    // The run's network goes with its container; what remains are the networks of containers parked for the next runs,
    // each with exactly one container on it.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const members = await runNetworkMembers();
      if (Object.values(members).every((names) => names.length === 1)) break;
      if (Date.now() > deadline) throw new Error(`run networks with no container or with more than one: ${JSON.stringify(members)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });

  it('a run with grants can start on a container parked ahead with its own network, and still reaches its destination', async () => {
    // Parked for this project's runs after the first (the pool replenishes what a run takes).
    const deadline = Date.now() + 60_000;
    while (!Object.values(await runNetworkMembers()).some((names) => names.some((name) => name.startsWith('sandrun-pool-')))) {
      if (Date.now() > deadline) throw new Error(`no container parked with a network: ${JSON.stringify(await runNetworkMembers())}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const hits = poolHits();
    const answer = await server.request(token, 'POST', '/v1/runs', { scope: 'project', mode: 'sync', project_name: 'egress', parameters: probeParameters() });
    expect(answer.body.status, JSON.stringify(answer.body)).toBe('success');
    expect(poolHits(), 'pool hits').toBe(hits + 1);
    expect(answer.body.outputs.probes.granted).toEqual({ status: 200, body: `${servers.allowed}:8080` });
    expect(answer.body.outputs.probes.other_host?.status).toBe(403);
    expect(answer.body.egress).toHaveLength(1);
  });

  it('a run of a project without grants has no network at all, and an empty egress', async () => {
    const answer = await server.request(token, 'POST', '/v1/runs', { scope: 'project', mode: 'sync', project_name: 'closed', parameters: probeParameters() });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const run = answer.body;
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe('success');
    const probes = run.outputs.probes;
    expect(probes.proxy_set, 'no HTTP_PROXY without grants').toBe(false);
    expect(probes.interfaces, 'network interfaces in the run').toEqual(['lo']);
    expect(probes.direct_granted?.connected).toBe(false);
    expect(run.egress).toEqual([]);
  });

  it('the proxy dying mid-run breaks that run\'s connection, not the server; it is restarted and serves the run again', async () => {
    const submitted = await server.request(token, 'POST', '/v1/runs', { scope: 'model', model_name: 'survive', mode: 'async', project_name: 'egress', parameters: probeParameters() });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const runId = submitted.body.run_id as string;
    const deadline = Date.now() + 120_000;
    while (!(await logsSoFar(runId)).includes('tunnel up')) {
      if (Date.now() > deadline) throw new Error(`run ${runId} never held its connection: ${await logsSoFar(runId)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const proxy = docker.getContainer(egressProxyName(instanceId));
    const before = await proxy.inspect();
    // Every process of the proxy's user, node included: the container exits as on a crash.
    const exec = await proxy.exec({ Cmd: ['sh', '-c', 'kill -9 -1'], User: '10001:10001' });
    await exec.start({});

    const run = await server.waitForRun(token, runId, { timeoutMs: 180_000 });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe('success');
    const survived = run.outputs.survive;
    expect(survived.first).toBe(`${servers.allowed}:8080`);
    expect(survived.broke, 'the held connection broke when the proxy died').toBeTruthy();
    expect(survived.again, 'a new connection after the proxy came back').toBe(`${servers.allowed}:8080`);
    const after = await proxy.inspect();
    expect(after.RestartCount, 'the engine restarted the proxy').toBeGreaterThan(before.RestartCount);
    expect(after.State.Running).toBe(true);
    expect((await server.request(token, 'GET', '/healthz')).status, 'the server answers').toBe(200);
  });
});
