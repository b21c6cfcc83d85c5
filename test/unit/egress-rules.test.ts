// SPEC §11: the operator's SANDRUN_EGRESS_ALLOW, a project's network.allow, and which destinations a run is granted.
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { SandrunError } from '../../src/errors.ts';
import { cidrContains, parseCidr } from '../../src/egress/cidr.ts';
import { parseDestination, type Destination } from '../../src/egress/destination.ts';
import { grantsFor, parseEgressRule, parseEgressRules, type EgressRule } from '../../src/egress/egress-rules.ts';
import { parseManifest } from '../../src/projects/manifest.ts';
import { YamlParser } from '../../src/projects/yaml-parser.ts';

const rules = (...entries: string[]): EgressRule[] => {
  const parsed = parseEgressRules(entries);
  expect(parsed.problems, 'rule problems').toEqual([]);
  return parsed.rules;
};
const destinations = (...texts: string[]): Destination[] =>
  texts.map((text) => {
    const parsed = parseDestination(text);
    if (parsed.problem !== undefined) throw new Error(`${text} ${parsed.problem}`);
    return parsed.value;
  });

function denial(run: () => unknown): SandrunError {
  try {
    run();
  } catch (error) {
    if (error instanceof SandrunError) return error;
    throw error;
  }
  throw new Error('expected egress_denied');
}

describe('a destination (host:port)', () => {
  it.each([
    ['api.example.com:443', { host: 'api.example.com', kind: 'name', port: 443 }],
    ['API.Example.COM.:443', { host: 'api.example.com', kind: 'name', port: 443 }],
    ['localhost:8080', { host: 'localhost', kind: 'name', port: 8080 }],
    ['10.1.2.3:5432', { host: '10.1.2.3', kind: 'ipv4', port: 5432 }],
    ['[2001:DB8:0::1]:443', { host: '2001:db8::1', kind: 'ipv6', port: 443 }],
  ])('%s is understood', (text, expected) => {
    expect(parseDestination(text).value).toEqual(expected);
  });

  it.each([
    ['api.example.com', 'is not of the form'],
    ['api.example.com:0', 'port'],
    ['api.example.com:65536', 'port'],
    ['api.example.com:0443', 'port'],
    ['api.example.com:+443', 'port'],
    ['2130706433:80', 'neither a DNS name'],
    ['0x7f.1:80', 'neither a DNS name'],
    ['127.1:80', 'neither a DNS name'],
    ['under_score.example.com:80', 'neither a DNS name'],
    ['-lead.example.com:80', 'neither a DNS name'],
    ['2001:db8::1:443', 'is not of the form'],
    ['[10.0.0.1]:80', 'not an IPv6 address'],
    ['[fe80::1%eth0]:80', 'not an IPv6 address'],
    [':80', 'neither a DNS name'],
  ])('%s is refused (%s)', (text, problem) => {
    expect(parseDestination(text).problem).toContain(problem);
  });
});

describe('a CIDR', () => {
  it('holds the addresses of its range only, in its own family', () => {
    const cidr = parseCidr('10.1.0.0/16').value!;
    expect(cidrContains(cidr, '10.1.255.7')).toBe(true);
    expect(cidrContains(cidr, '10.2.0.1')).toBe(false);
    expect(cidrContains(cidr, '::ffff:10.1.0.1'), 'an IPv4-mapped IPv6 address').toBe(false);
    expect(cidrContains(parseCidr('2001:db8::/32').value!, '2001:db8:ffff::1')).toBe(true);
  });

  it('refuses host bits after the prefix, naming the range meant', () => {
    expect(parseCidr('10.1.2.3/8').problem).toBe('has host bits set after /8; the range is 10.0.0.0/8');
    expect(parseCidr('2001:db8::1/32').problem).toBe('has host bits set after /32; the range is 2001:db8::/32');
  });

  it('refuses a prefix longer than the family has', () => {
    expect(parseCidr('10.0.0.0/33').problem).toContain('0 to 32');
    expect(parseCidr('::/129').problem).toContain('0 to 128');
  });
});

describe('SANDRUN_EGRESS_ALLOW', () => {
  it('is empty by default: no run reaches anything', () => {
    expect(loadConfig({}).egressAllow).toEqual([]);
  });

  it('reads hosts, *.domains, addresses and CIDRs, each with a port', () => {
    const parsed = loadConfig({ SANDRUN_EGRESS_ALLOW: 'api.example.com:443, *.example.org:443,10.1.2.3:8080,10.0.0.0/8:5432,[fd00::/8]:443' }).egressAllow;
    expect(parsed.map((rule) => rule.kind)).toEqual(['host', 'domain', 'cidr', 'cidr', 'cidr']);
    expect(parsed[2]).toMatchObject({ kind: 'cidr', cidr: { network: '10.1.2.3', prefix: 32 }, privateReason: 'a private address' });
    expect(parsed[4]).toMatchObject({ kind: 'cidr', cidr: { network: 'fd00::', prefix: 8, family: 6 }, privateReason: 'a private address' });
  });

  it('names every bad entry and what an entry looks like', () => {
    let message = '';
    try {
      loadConfig({ SANDRUN_EGRESS_ALLOW: 'api.example.com,10.1.2.3/8:80,ok.example.com:443,*.bad_domain:443,[10.0.0.0/8]:80' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("entry 'api.example.com' is not of the form host:port, *.domain:port or CIDR:port");
    expect(message).toContain("entry '10.1.2.3/8:80' has host bits set after /8; the range is 10.0.0.0/8");
    expect(message).toContain("entry '*.bad_domain:443' has a host that is neither a DNS name");
    expect(message).toContain("entry '[10.0.0.0/8]:80' has an IPv4 range in brackets");
    expect(message, 'a good entry is not named').not.toContain('ok.example.com');
  });

  it('refuses IPv4-mapped IPv6 ranges (they would dodge the IPv4 private ranges)', () => {
    expect(parseEgressRule('[::ffff:10.0.0.0/104]:80').problem).toContain('IPv4 form');
  });

  it('knows which ranges lie wholly in refused space', () => {
    const reason = (text: string) => {
      const rule = parseEgressRule(text).value!;
      return rule.kind === 'cidr' ? rule.privateReason : 'not a cidr';
    };
    expect(reason('127.0.0.0/8:80')).toBe('a loopback address');
    expect(reason('169.254.169.254:80')).toBe('the cloud metadata address');
    expect(reason('169.254.0.0/16:80')).toBe('a link-local address');
    expect(reason('10.0.0.0/7:80'), 'half of it is public').toBeNull();
    expect(reason('0.0.0.0/0:443'), 'everything').toBeNull();
    expect(reason('[::/0]:443')).toBeNull();
    expect(reason('8.8.8.0/24:53')).toBeNull();
  });
});

describe('grantsFor', () => {
  it('grants a name its exact host rule or a *.domain rule, at the same port only', () => {
    const operator = rules('api.example.com:443', '*.example.org:443');
    expect(grantsFor(operator, destinations('api.example.com:443', 'a.b.example.org:443'))).toEqual([
      { host: 'api.example.com', port: 443, privateRanges: [] },
      { host: 'a.b.example.org', port: 443, privateRanges: [] },
    ]);
    for (const refused of ['api.example.com:80', 'example.org:443', 'evil-example.org:443', 'other.example.com:443']) {
      expect(denial(() => grantsFor(operator, destinations(refused))).code, refused).toBe('egress_denied');
    }
  });

  it('grants an address a CIDR rule holding it; a name is not granted by a CIDR rule', () => {
    const operator = rules('8.8.8.0/24:53', '[2001:db8::/32]:443');
    expect(grantsFor(operator, destinations('8.8.8.8:53', '[2001:db8::5]:443')).map((grant) => grant.host)).toEqual(['8.8.8.8', '2001:db8::5']);
    expect(denial(() => grantsFor(operator, destinations('dns.google:53'))).code).toBe('egress_denied');
  });

  it('grants an address in refused space only by a rule inside that space, never by 0.0.0.0/0', () => {
    const broad = rules('0.0.0.0/0:8080');
    const error = denial(() => grantsFor(broad, destinations('10.1.2.3:8080', '169.254.169.254:8080')));
    expect(error.message).toContain('10.1.2.3:8080 is not allowed: it is a private address');
    expect(error.message).toContain('the operator would add 10.1.2.3/32:8080');
    expect(error.message).toContain('169.254.169.254:8080 is not allowed: it is the cloud metadata address');
    expect(grantsFor(rules('10.0.0.0/8:8080'), destinations('10.1.2.3:8080'))).toEqual([{ host: '10.1.2.3', port: 8080, privateRanges: ['10.0.0.0/8'] }]);
  });

  it('hands each grant the private ranges the operator named at its port, for names that resolve there', () => {
    const operator = rules('data.internal:8080', '10.0.0.0/8:8080', '127.0.0.0/8:9000', '192.168.0.0/16:8080', '0.0.0.0/0:8080');
    expect(grantsFor(operator, destinations('data.internal:8080'))).toEqual([{ host: 'data.internal', port: 8080, privateRanges: ['10.0.0.0/8', '192.168.0.0/16'] }]);
  });

  it('names every refused destination and the rule that would grant it, in one 422', () => {
    const error = denial(() => grantsFor(rules('api.example.com:443'), destinations('api.example.com:443', 'data.internal:8080', 'other.example.com:443')));
    expect(error.status).toBe(422);
    expect(error.message).toBe(
      'network.allow: data.internal:8080 is not allowed: no rule of SANDRUN_EGRESS_ALLOW covers it (the operator would add data.internal:8080 or *.internal:8080); ' +
        'other.example.com:443 is not allowed: no rule of SANDRUN_EGRESS_ALLOW covers it (the operator would add other.example.com:443 or *.example.com:443)',
    );
    expect(error.details).toEqual({
      denied: [
        { destination: 'data.internal:8080', reason: 'no rule of SANDRUN_EGRESS_ALLOW covers it', needs: 'data.internal:8080 or *.internal:8080' },
        { destination: 'other.example.com:443', reason: 'no rule of SANDRUN_EGRESS_ALLOW covers it', needs: 'other.example.com:443 or *.example.com:443' },
      ],
    });
  });

  it('says so when the server allows no egress at all', () => {
    expect(denial(() => grantsFor([], destinations('api.example.com:443'))).message).toContain('this server allows no egress: SANDRUN_EGRESS_ALLOW is empty');
  });

  it('grants a destination asked twice once', () => {
    expect(grantsFor(rules('api.example.com:443'), destinations('api.example.com:443', 'API.example.com:443'))).toHaveLength(1);
  });

  it('grants nothing for nothing asked', () => {
    expect(grantsFor([], [])).toEqual([]);
  });
});

describe('network.allow in sandrun.yaml', () => {
  const yaml = new YamlParser();
  afterAll(() => yaml.close());
  const images = ['sandrun/python:3.11'];
  const manifestError = async (text: string): Promise<SandrunError> => {
    try {
      await parseManifest(text, { images, yaml });
    } catch (error) {
      if (error instanceof SandrunError) return error;
      throw error;
    }
    throw new Error('expected manifest_invalid');
  };

  it('lists destinations as host:port or address:port', async () => {
    const manifest = await parseManifest(['network:', '  allow: ["api.example.com:443", "10.1.2.3:8080", "[2001:db8::1]:443"]'].join('\n'), { images, yaml });
    expect(manifest.network?.allow).toEqual([
      { host: 'api.example.com', kind: 'name', port: 443 },
      { host: '10.1.2.3', kind: 'ipv4', port: 8080 },
      { host: '2001:db8::1', kind: 'ipv6', port: 443 },
    ]);
  });

  it('names the line and the entry of a bad destination', async () => {
    const error = await manifestError(['image: sandrun/python:3.11', 'network:', '  allow:', '    - api.example.com:443', '    - "*.example.com:443"', '    - data.internal'].join('\n'));
    expect(error.code).toBe('manifest_invalid');
    expect(error.message).toContain("line 5: network.allow[1]: '*.example.com:443' has a host that is neither a DNS name");
    expect(error.message).toContain("line 6: network.allow[2]: 'data.internal' is not of the form host:port");
  });

  it('refuses unknown keys under network and a non-list allow', async () => {
    expect((await manifestError(['network:', '  deny: [x]'].join('\n'))).message).toContain('line 2: network.deny: unknown key (allowed: allow)');
    expect((await manifestError(['network:', '  allow: api.example.com:443'].join('\n'))).message).toContain('line 2: network.allow: expected a list of destinations');
  });

  it('refuses more than 32 destinations', async () => {
    const many = Array.from({ length: 33 }, (_, index) => `h${index}.example.com:443`);
    expect((await manifestError(`network:\n  allow: [${many.join(', ')}]`)).message).toContain('network.allow: at most 32 destinations');
  });
});
