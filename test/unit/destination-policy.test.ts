// Which addresses server-side fetches may reach (SPEC §14): every refused range, in every form an address can take.
import { describe, expect, it } from 'vitest';
import { DestinationPolicy, refusalReason } from '../../src/net/destination-policy.ts';

describe('refusalReason', () => {
  it.each([
    ['127.0.0.1', 'a loopback address'],
    ['127.255.0.9', 'a loopback address'],
    ['::1', 'a loopback address'],
    ['::ffff:127.0.0.1', 'a loopback address'],
    ['::ffff:7f00:1', 'a loopback address'],
    ['::127.0.0.1', 'a loopback address'],
    ['64:ff9b::7f00:1', 'a loopback address'],
    ['169.254.169.254', 'the cloud metadata address'],
    ['::ffff:169.254.169.254', 'the cloud metadata address'],
    ['fd00:ec2::254', 'the cloud metadata address'],
    ['169.254.10.1', 'a link-local address'],
    ['fe80::1', 'a link-local address'],
    ['febf::1', 'a link-local address'],
    ['10.0.0.1', 'a private address'],
    ['172.16.0.1', 'a private address'],
    ['172.31.255.255', 'a private address'],
    ['192.168.0.1', 'a private address'],
    ['100.64.0.1', 'a private address'],
    ['::ffff:10.1.2.3', 'a private address'],
    ['fc00::1', 'a private address'],
    ['fdff:ffff::1', 'a private address'],
    ['0.0.0.0', 'an unspecified address'],
    ['::', 'an unspecified address'],
    ['224.0.0.1', 'a multicast or broadcast address'],
    ['255.255.255.255', 'a multicast or broadcast address'],
    ['ff02::1', 'a multicast or broadcast address'],
  ])('%s is %s', (address, reason) => {
    expect(refusalReason(address)).toBe(reason);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '64:ff9b::808:808', '::ffff:8.8.8.8'])('%s is allowed', (address) => {
    expect(refusalReason(address)).toBeNull();
  });
});

describe('DestinationPolicy', () => {
  it('refuses a name by the addresses it resolves to, naming the field, the host, the address and the setting', async () => {
    await expect(new DestinationPolicy(false).resolve('localhost', 'repo_url')).rejects.toThrow(
      /^repo_url host localhost resolves to a loopback address \((127\.0\.0\.1|::1)\); set SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1 to allow it$/,
    );
    await expect(new DestinationPolicy(false).resolve('[::1]', 'SANDRUN_JWT_JWKS_URL')).rejects.toThrow(/^SANDRUN_JWT_JWKS_URL host ::1 resolves to a loopback address;/);
  });

  it('when the operator allows private destinations, returns every address to pin', async () => {
    const addresses = await new DestinationPolicy(true).resolve('localhost', 'repo_url');
    expect(addresses.length).toBeGreaterThan(0);
    for (const { address } of addresses) expect(refusalReason(address), address).toBe('a loopback address');
    expect(await new DestinationPolicy(true).resolve('127.0.0.1', 'repo_url')).toEqual([{ address: '127.0.0.1', family: 4 }]);
  });
});
