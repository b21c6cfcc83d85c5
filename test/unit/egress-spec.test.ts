// The egress proxy's container and networks as the engine gets them: every restriction stated, nothing the run reaper would take.
import { describe, expect, it } from 'vitest';
import { MANAGED_LABEL } from '../../src/sandbox/labels.ts';
import { egressOutboundNetworkOptions, egressProxyContainerOptions, egressRunNetworkOptions } from '../../src/sandbox/docker/egress-spec.ts';

const settings = { instanceId: 'inst1', image: 'sandrun/node:18', programPath: '/srv/sandrun/dist/egress-proxy.mjs', dir: '/srv/data/egress' };

describe('the egress proxy container', () => {
  const options = egressProxyContainerOptions(settings);
  const host = options.HostConfig!;

  it('runs the bundled program, mounted read-only, as the unprivileged runner user', () => {
    expect(options.Cmd).toEqual(['node', '/opt/sandrun-egress/egress-proxy.mjs']);
    expect(host.Binds).toEqual(['/srv/sandrun/dist/egress-proxy.mjs:/opt/sandrun-egress/egress-proxy.mjs:ro', '/srv/data/egress:/egress:rw']);
    expect(options.User).toBe('10001:10001');
  });

  it('has no capability, no privilege gain, a read-only root and bounded memory, pids and logs', () => {
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd).toBeUndefined();
    expect(host.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(host.Privileged).toBe(false);
    expect(host.ReadonlyRootfs).toBe(true);
    expect(host.Memory).toBe(host.MemorySwap);
    expect(host.PidsLimit).toBeGreaterThan(0);
    expect(host.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
  });

  it('is restarted by the engine whenever it exits, and is not a run container (the run reaper would remove it)', () => {
    expect(host.RestartPolicy).toEqual({ Name: 'always', MaximumRetryCount: 0 });
    expect(options.Labels?.[MANAGED_LABEL]).toBeUndefined();
    expect(options.Labels).toEqual({ 'sandrun.egress': 'proxy', 'sandrun.instance': 'inst1' });
  });

  it('starts on the outbound network only; the host network is never used', () => {
    expect(host.NetworkMode).toBe('sandrun-egress-out-inst1');
    expect(egressOutboundNetworkOptions('inst1')).toMatchObject({ Name: 'sandrun-egress-out-inst1', Driver: 'bridge', Internal: false });
  });
});

describe('a run\'s egress network', () => {
  it('is internal, of one container alone (named after it), and gives the engine host no address on it', () => {
    expect(egressRunNetworkOptions('run-1', 'inst1')).toEqual({
      Name: 'sandrun-egress-run-run-1',
      Driver: 'bridge',
      CheckDuplicate: true,
      Internal: true,
      EnableIPv6: false,
      Options: { 'com.docker.network.bridge.inhibit_ipv4': 'true' },
      Labels: { 'sandrun.egress': 'run', 'sandrun.instance': 'inst1', 'sandrun.egress_owner': 'run-1' },
    });
  });
});
