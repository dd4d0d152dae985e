import { describe, expect, it } from 'vitest';
import { WebhookHostUnresolvedError, WebhookUrlGuard, WebhookUrlRefusedError, refusedAddressKind, type ResolvedAddress } from './address-guard.ts';

// The IPv4 addresses the embedding forms below carry, in the hex groups an IPv6 address writes them as:
//   127.0.0.1 = 7f00:1   10.0.0.1 = a00:1   169.254.169.254 = a9fe:a9fe   8.8.8.8 = 808:808
const LOOPBACK = '127.0.0.1: loopback';
const PRIVATE = '10.0.0.1: private (RFC 1918)';
const METADATA = '169.254.169.254: cloud metadata';

describe('refusedAddressKind: IPv4 special-purpose registry', () => {
  // First and last address of each range (or the address itself), so a wrong prefix length shows.
  it.each([
    ['0.0.0.0', 'unspecified ("this network")'],
    ['0.255.255.255', 'unspecified ("this network")'],
    ['10.0.0.0', 'private (RFC 1918)'],
    ['10.255.255.255', 'private (RFC 1918)'],
    ['100.64.0.0', 'shared (carrier-grade NAT)'],
    ['100.127.255.255', 'shared (carrier-grade NAT)'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.255', 'loopback'],
    ['169.254.0.0', 'link-local'],
    ['169.254.255.255', 'link-local'],
    ['169.254.169.254', 'cloud metadata'],
    ['172.16.0.0', 'private (RFC 1918)'],
    ['172.31.255.255', 'private (RFC 1918)'],
    ['192.0.0.0', 'reserved (IETF protocol assignments)'],
    ['192.0.0.9', 'reserved (IETF protocol assignments)'],
    ['192.0.0.10', 'reserved (IETF protocol assignments)'],
    ['192.0.0.171', 'reserved (IETF protocol assignments)'],
    ['192.0.0.255', 'reserved (IETF protocol assignments)'],
    ['192.0.2.0', 'reserved (documentation)'],
    ['192.0.2.255', 'reserved (documentation)'],
    ['192.31.196.0', 'special-purpose (AS112 DNS anycast)'],
    ['192.31.196.255', 'special-purpose (AS112 DNS anycast)'],
    ['192.52.193.0', 'special-purpose (AMT relay anycast)'],
    ['192.52.193.255', 'special-purpose (AMT relay anycast)'],
    ['192.88.99.0', 'reserved (6to4 relay)'],
    ['192.88.99.255', 'reserved (6to4 relay)'],
    ['192.168.0.0', 'private (RFC 1918)'],
    ['192.168.255.255', 'private (RFC 1918)'],
    ['192.175.48.0', 'special-purpose (AS112 DNS anycast)'],
    ['192.175.48.255', 'special-purpose (AS112 DNS anycast)'],
    ['198.18.0.0', 'reserved (benchmarking)'],
    ['198.19.255.255', 'reserved (benchmarking)'],
    ['198.51.100.0', 'reserved (documentation)'],
    ['198.51.100.255', 'reserved (documentation)'],
    ['203.0.113.0', 'reserved (documentation)'],
    ['203.0.113.255', 'reserved (documentation)'],
    ['224.0.0.0', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['240.0.0.0', 'reserved'],
    ['255.255.255.254', 'reserved'],
    ['255.255.255.255', 'broadcast'],
  ])('refuses %s (%s)', (address, kind) => {
    expect(refusedAddressKind(address)).toBe(kind);
  });

  // The neighbours just outside the ranges above are ordinary public addresses.
  it.each([
    '1.0.0.0',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '191.255.255.255',
    '192.0.1.0',
    '192.0.3.0',
    '192.31.195.255',
    '192.31.197.0',
    '192.52.192.255',
    '192.52.194.0',
    '192.88.98.255',
    '192.88.100.0',
    '192.167.255.255',
    '192.169.0.0',
    '192.175.47.255',
    '192.175.49.0',
    '198.17.255.255',
    '198.20.0.0',
    '198.51.99.255',
    '198.51.101.0',
    '203.0.112.255',
    '203.0.114.0',
    '223.255.255.255',
    '8.8.8.8',
  ])('accepts the public address %s', (address) => {
    expect(refusedAddressKind(address)).toBeNull();
  });
});

describe('refusedAddressKind: IPv6 special-purpose registry and the rest outside global unicast', () => {
  it.each([
    ['::', 'unspecified'],
    ['0:0:0:0:0:0:0:0', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['64:ff9b:1::', 'reserved (local-use NAT64, RFC 8215)'],
    ['64:ff9b:1:ffff:ffff:ffff:ffff:ffff', 'reserved (local-use NAT64, RFC 8215)'],
    ['100::', 'reserved (discard-only, RFC 6666)'],
    ['100::ffff:ffff:ffff:ffff', 'reserved (discard-only, RFC 6666)'],
    ['100:0:0:1::', 'reserved (dummy prefix, RFC 9780)'],
    ['100:0:0:1:ffff:ffff:ffff:ffff', 'reserved (dummy prefix, RFC 9780)'],
    // 2001::/23 with the rows inside it, the globally reachable ones too.
    ['2001:1::1', 'reserved (IETF protocol assignments)'],
    ['2001:1::2', 'reserved (IETF protocol assignments)'],
    ['2001:1::3', 'reserved (IETF protocol assignments)'],
    ['2001:2::1', 'reserved (IETF protocol assignments)'],
    ['2001:3::1', 'reserved (IETF protocol assignments)'],
    ['2001:4:112::1', 'reserved (IETF protocol assignments)'],
    ['2001:10::1', 'reserved (IETF protocol assignments)'],
    ['2001:20::1', 'reserved (IETF protocol assignments)'],
    ['2001:30::1', 'reserved (IETF protocol assignments)'],
    ['2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved (IETF protocol assignments)'],
    ['2001:db8::', 'reserved (documentation)'],
    ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved (documentation)'],
    ['2620:4f:8000::1', 'special-purpose (AS112 DNS anycast)'],
    ['2620:4f:8000:ffff:ffff:ffff:ffff:ffff', 'special-purpose (AS112 DNS anycast)'],
    ['3fff::', 'reserved (documentation)'],
    ['3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved (documentation)'],
    ['5f00::1', 'reserved (SRv6 SIDs, RFC 9602)'],
    ['fc00::', 'private (unique local)'],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'private (unique local)'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['fe80::', 'link-local'],
    ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'link-local'],
    ['fec0::1', 'reserved (site-local)'],
    ['feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved (site-local)'],
    ['ff02::1', 'multicast'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'multicast'],
    // Outside 2000::/3 and in no row above: reserved by the IETF, nothing lives there.
    ['1::1', 'reserved (not global unicast 2000::/3)'],
    ['64:ff9b:2::1', 'reserved (not global unicast 2000::/3)'],
    ['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved (not global unicast 2000::/3)'],
    ['4000::1', 'reserved (not global unicast 2000::/3)'],
    ['e000::1', 'reserved (not global unicast 2000::/3)'],
    // A zone id says the address is scoped to one of our interfaces.
    ['fe80::1%eth0', 'scoped (has a zone id)'],
    ['2001:4860:4860::8888%1', 'scoped (has a zone id)'],
  ])('refuses %s (%s)', (address, kind) => {
    expect(refusedAddressKind(address)).toBe(kind);
  });

  it.each([
    '2000::',
    '2001:200::1',
    '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff',
    '2001:db9::',
    '2003::1',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '2620:4f:7fff:ffff:ffff:ffff:ffff:ffff',
    '2620:4f:8001::',
    '3fff:1000::',
    '3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  ])('accepts the public address %s', (address) => {
    expect(refusedAddressKind(address)).toBeNull();
  });
});

describe('refusedAddressKind: IPv6 forms that carry an IPv4 address', () => {
  // Each form with a loopback, a private, the metadata and a public IPv4 address in it. Forms whose traffic
  // goes to the IPv4 address they carry (mapped: our own stack; NAT64 well-known prefix: the translator;
  // 6to4: the relay; ISATAP: the tunnel) pass with a public one, as 8.8.8.8 itself does. The others are
  // refused whatever they carry, naming it when it is not public.
  it.each([
    // IPv4-mapped ::ffff:0:0/96, dotted and hex.
    ['::ffff:127.0.0.1', `IPv4-mapped form of ${LOOPBACK}`],
    ['::ffff:7f00:1', `IPv4-mapped form of ${LOOPBACK}`],
    ['0:0:0:0:0:ffff:0a00:0001', `IPv4-mapped form of ${PRIVATE}`],
    ['::ffff:a9fe:a9fe', `IPv4-mapped form of ${METADATA}`],
    ['::ffff:169.254.169.254', `IPv4-mapped form of ${METADATA}`],
    ['::ffff:0.0.0.0', 'IPv4-mapped form of 0.0.0.0: unspecified ("this network")'],
    ['::ffff:8.8.8.8', null],
    ['::ffff:808:808', null],
    // IPv4-translated ::ffff:0:0:0/96 (RFC 2765): refused even when public.
    ['::ffff:0:7f00:1', `IPv4-translated form of ${LOOPBACK}`],
    ['::ffff:0:127.0.0.1', `IPv4-translated form of ${LOOPBACK}`],
    ['::ffff:0:a00:1', `IPv4-translated form of ${PRIVATE}`],
    ['::ffff:0:a9fe:a9fe', `IPv4-translated form of ${METADATA}`],
    ['::ffff:0:808:808', 'IPv4-translated form of 8.8.8.8: obsolete SIIT form (RFC 2765), never a destination'],
    // IPv4-compatible ::/96 (deprecated): refused even when public.
    ['::7f00:1', `IPv4-compatible form of ${LOOPBACK}`],
    ['::127.0.0.1', `IPv4-compatible form of ${LOOPBACK}`],
    ['::a00:1', `IPv4-compatible form of ${PRIVATE}`],
    ['::a9fe:a9fe', `IPv4-compatible form of ${METADATA}`],
    ['::2', 'IPv4-compatible form of 0.0.0.2: unspecified ("this network")'],
    ['::808:808', 'IPv4-compatible form of 8.8.8.8: deprecated form (RFC 4291 §2.5.5.1), never a destination'],
    // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
    ['64:ff9b::7f00:1', `NAT64 form of ${LOOPBACK}`],
    ['64:ff9b::127.0.0.1', `NAT64 form of ${LOOPBACK}`],
    ['64:ff9b::a00:1', `NAT64 form of ${PRIVATE}`],
    ['64:ff9b::a9fe:a9fe', `NAT64 form of ${METADATA}`],
    ['64:ff9b::808:808', null],
    // Local-use NAT64 64:ff9b:1::/48 (RFC 8215): refused whole, whichever RFC 6052 layout the IPv4 address is in.
    // /48 layout: octets 1-2 in bits 48-63, the u-octet (bits 64-71) zero, octets 3-4 in bits 72-87.
    ['64:ff9b:1:7f00:0:100::', 'reserved (local-use NAT64, RFC 8215)'],
    ['64:ff9b:1:a00:0:100::', 'reserved (local-use NAT64, RFC 8215)'],
    ['64:ff9b:1:a9fe:a9:fe00::', 'reserved (local-use NAT64, RFC 8215)'],
    ['64:ff9b:1:808:8:800::', 'reserved (local-use NAT64, RFC 8215)'],
    // /96 layout (prefix 64:ff9b:1::/96): the IPv4 address in the last 32 bits.
    ['64:ff9b:1::7f00:1', 'reserved (local-use NAT64, RFC 8215)'],
    ['64:ff9b:1::a9fe:a9fe', 'reserved (local-use NAT64, RFC 8215)'],
    ['64:ff9b:1::808:808', 'reserved (local-use NAT64, RFC 8215)'],
    // 6to4 2002::/16 (RFC 3056): the IPv4 address in bits 16-47.
    ['2002:7f00:1::', `6to4 form of ${LOOPBACK}`],
    ['2002:7f00:1:1::1', `6to4 form of ${LOOPBACK}`],
    ['2002:a00:1::1', `6to4 form of ${PRIVATE}`],
    ['2002:a9fe:a9fe::1', `6to4 form of ${METADATA}`],
    ['2002:c058:6301::1', '6to4 form of 192.88.99.1: reserved (6to4 relay)'],
    ['2002:808:808::1', null],
    // Teredo 2001::/32 (RFC 4380): server 65.54.227.120 (4136:e378) in bits 32-63, flags 8000, port 63bf, the
    // client in bits 96-127 with every bit inverted: 127.0.0.1 = 80ff:fffe, 10.0.0.1 = f5ff:fffe,
    // 169.254.169.254 = 5601:5601, 8.8.8.8 = f7f7:f7f7. Refused even when both are public.
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', `Teredo form of client ${LOOPBACK}`],
    ['2001:0:4136:e378:8000:63bf:f5ff:fffe', `Teredo form of client ${PRIVATE}`],
    ['2001:0:4136:e378:8000:63bf:5601:5601', `Teredo form of client ${METADATA}`],
    ['2001:0:a00:1:8000:63bf:f7f7:f7f7', `Teredo form of server ${PRIVATE}`],
    ['2001:0:7f00:1:8000:63bf:f7f7:f7f7', `Teredo form of server ${LOOPBACK}`],
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', 'Teredo form of server 65.54.227.120, client 8.8.8.8: Teredo tunnel (RFC 4380), not globally reachable'],
    // ISATAP (RFC 5214) interface identifiers 0:5efe:<IPv4> and 200:5efe:<IPv4> in an otherwise public prefix.
    ['2001:4860:1:2:0:5efe:7f00:1', `ISATAP form of ${LOOPBACK}`],
    ['2001:4860:1:2:200:5efe:a00:1', `ISATAP form of ${PRIVATE}`],
    ['2001:4860:1:2:0:5efe:169.254.169.254', `ISATAP form of ${METADATA}`],
    ['2001:4860:1:2:200:5efe:808:808', null],
    ['2001:4860:1:2:400:5efe:7f00:1', null], // u/g bits aside, 0400 is not an ISATAP identifier
  ])('%s -> %s', (address, kind) => {
    expect(refusedAddressKind(address)).toBe(kind);
  });

  it('refuses anything that is not an IP address', () => {
    expect(refusedAddressKind('localhost')).toBe('not an IP address');
    expect(refusedAddressKind('0177.0.0.1')).toBe('not an IP address');
    expect(refusedAddressKind('127.1')).toBe('not an IP address');
  });
});

/** A guard whose lookup answers from `answers` and records what it was asked; nothing is resolved for real. */
function guardWith(answers: Record<string, ResolvedAddress[]>): { guard: WebhookUrlGuard; asked: string[] } {
  const asked: string[] = [];
  const guard = new WebhookUrlGuard({
    allowPrivate: false,
    lookup: async (hostname) => {
      asked.push(hostname);
      const found = answers[hostname];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return found;
    },
  });
  return { guard, asked };
}

async function refusal(guard: WebhookUrlGuard, url: string): Promise<unknown> {
  return guard.resolve(url).then(
    (target) => target,
    (error: unknown) => error,
  );
}

describe('WebhookUrlGuard', () => {
  const { guard, asked } = guardWith({
    'hooks.example.com': [{ address: '93.184.216.34', family: 4 }],
    'internal.example.com': [{ address: '10.1.2.3', family: 4 }],
    'split.example.com': [
      { address: '93.184.216.34', family: 4 },
      { address: '::1', family: 6 },
    ],
    localhost: [{ address: '127.0.0.1', family: 4 }],
    'nat64.example.com': [{ address: '64:ff9b::a9fe:a9fe', family: 6 }],
    'mapped.example.com': [{ address: '::ffff:10.0.0.1', family: 6 }],
    'translated.example.com': [{ address: '::ffff:0:7f00:1', family: 6 }],
    'sixtofour.example.com': [{ address: '2002:c0a8:101::1', family: 6 }],
    'teredo.example.com': [{ address: '2001:0:4136:e378:8000:63bf:80ff:fffe', family: 6 }],
    'scoped.example.com': [{ address: 'fe80::1%eth0', family: 6 }],
    'public-nat64.example.com': [{ address: '64:ff9b::808:808', family: 6 }],
    'public-mapped.example.com': [{ address: '::ffff:8.8.8.8', family: 6 }],
  });

  it('resolves a public host to the address to connect to', async () => {
    const target = await guard.resolve('https://hooks.example.com/digits?x=1');
    expect(target.address).toEqual({ address: '93.184.216.34', family: 4 });
    expect(target.url.href).toBe('https://hooks.example.com/digits?x=1');
  });

  it.each([
    ['http://10.0.0.1/hook', /10\.0\.0\.1 is not a public address \(private/],
    ['http://127.0.0.1/', /loopback/],
    ['http://[::1]/', /::1 is not a public address \(loopback\)/],
    ['http://169.254.169.254/latest/meta-data/', /cloud metadata/],
    ['http://[::ffff:127.0.0.1]:8080/', /IPv4-mapped form of 127\.0\.0\.1/],
    ['http://internal.example.com/', /internal\.example\.com resolves to 10\.1\.2\.3, which is not a public address/],
    ['http://split.example.com/', /resolves to ::1/],
    ['http://localhost:3000/', /localhost resolves to 127\.0\.0\.1/],
    ['ftp://hooks.example.com/', /only http and https/],
    ['file:///etc/passwd', /only http and https/],
    ['https://user:secret@hooks.example.com/', /credentials/],
    ['not a url', /is not a URL/],
  ])('refuses %s', async (url, message) => {
    const error = await refusal(guard, url);
    expect(error).toBeInstanceOf(WebhookUrlRefusedError);
    expect((error as Error).message).toMatch(message);
  });

  // The URL parser (WHATWG) turns every IPv4 spelling into dotted decimal and IPv6 into its compressed form,
  // so these reach the address check as literals: refused without a lookup.
  it.each([
    ['http://2130706433/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://0177.0.0.1/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://0x7f.1/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://0x7F.0x0.0x0.0x1/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://127.1/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://127.0.0.1./', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://127.000.000.001/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://0x7f000001/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://017700000001/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://%31%32%37.0.0.1/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['http://0/', /0\.0\.0\.0 is not a public address \(unspecified/],
    ['http://2852039166/', /169\.254\.169\.254 is not a public address \(cloud metadata\)/],
    ['http://0xa9.0xfe.0xa9.0xfe/', /169\.254\.169\.254 is not a public address \(cloud metadata\)/],
    ['http://0251.0376.0251.0376/', /169\.254\.169\.254 is not a public address \(cloud metadata\)/],
    ['http://10.1/', /10\.0\.0\.1 is not a public address \(private/],
    ['http://[0:0:0:0:0:ffff:127.0.0.1]/', /::ffff:7f00:1 is not a public address \(IPv4-mapped form of 127\.0\.0\.1: loopback\)/],
    ['http://[::ffff:0:7f00:1]/', /::ffff:0:7f00:1 is not a public address \(IPv4-translated form of 127\.0\.0\.1: loopback\)/],
    ['http://[::ffff:0:a9fe:a9fe]/', /IPv4-translated form of 169\.254\.169\.254: cloud metadata/],
    ['http://[::ffff:0:8.8.8.8]/', /IPv4-translated form of 8\.8\.8\.8: obsolete SIIT form/],
    ['http://[::127.0.0.1]/', /IPv4-compatible form of 127\.0\.0\.1: loopback/],
    ['http://[64:ff9b::169.254.169.254]/', /NAT64 form of 169\.254\.169\.254: cloud metadata/],
    ['http://[64:ff9b:1:7f00:0:100::]/', /local-use NAT64/],
    ['http://[2002:a9fe:a9fe::]/', /6to4 form of 169\.254\.169\.254: cloud metadata/],
    ['http://[2001:0:4136:e378:8000:63bf:5601:5601]/', /Teredo form of client 169\.254\.169\.254: cloud metadata/],
    ['http://[2001:4860:1:2:0:5efe:a00:1]/', /ISATAP form of 10\.0\.0\.1: private/],
    ['http://[fd00:ec2::254]/', /cloud metadata/],
    ['http://[fe80::1%25eth0]/', /is not a URL/],
    ['http://[fe80::1%eth0]/', /is not a URL/],
    ['http://[fe80::1]/', /fe80::1 is not a public address \(link-local\)/],
  ])('refuses %s without a lookup', async (url, message) => {
    asked.length = 0;
    const error = await refusal(guard, url);
    expect(error).toBeInstanceOf(WebhookUrlRefusedError);
    expect((error as Error).message).toMatch(message);
    expect(asked).toEqual([]);
  });

  it.each([
    ['http://nat64.example.com/', /resolves to 64:ff9b::a9fe:a9fe, which is not a public address \(NAT64 form of 169\.254\.169\.254: cloud metadata\)/],
    ['http://mapped.example.com/', /resolves to ::ffff:10\.0\.0\.1, which is not a public address \(IPv4-mapped form of 10\.0\.0\.1/],
    ['http://translated.example.com/', /IPv4-translated form of 127\.0\.0\.1: loopback/],
    ['http://sixtofour.example.com/', /6to4 form of 192\.168\.1\.1: private/],
    ['http://teredo.example.com/', /Teredo form of client 127\.0\.0\.1: loopback/],
    ['http://scoped.example.com/', /resolves to fe80::1%eth0, which is not a public address \(scoped/],
  ])('refuses %s, whose name resolves to an embedded or scoped non-public address', async (url, message) => {
    const error = await refusal(guard, url);
    expect(error).toBeInstanceOf(WebhookUrlRefusedError);
    expect((error as Error).message).toMatch(message);
  });

  it.each([
    ['http://[::ffff:8.8.8.8]/', { address: '::ffff:808:808', family: 6 }],
    ['http://[64:ff9b::8.8.8.8]/', { address: '64:ff9b::808:808', family: 6 }],
    ['http://[2002:808:808::1]/', { address: '2002:808:808::1', family: 6 }],
    ['http://public-nat64.example.com/', { address: '64:ff9b::808:808', family: 6 }],
    ['http://public-mapped.example.com/', { address: '::ffff:8.8.8.8', family: 6 }],
  ])('accepts %s, which carries the public 8.8.8.8', async (url, address) => {
    expect((await guard.resolve(url)).address).toEqual(address);
  });

  it('reports a host that does not resolve as unresolved, not refused', async () => {
    const error = await refusal(guard, 'https://nowhere.example.com/');
    expect(error).toBeInstanceOf(WebhookHostUnresolvedError);
    expect((error as Error).message).toMatch(/nowhere\.example\.com does not resolve \(getaddrinfo ENOTFOUND/);
  });

  it('gives up on a lookup that hangs', async () => {
    const slow = new WebhookUrlGuard({ allowPrivate: false, lookupTimeoutMs: 50, lookup: () => new Promise(() => undefined) });
    await expect(slow.resolve('https://slow.example.com/')).rejects.toThrow(/no DNS answer within 50 ms/);
  });

  it('with WEBHOOK_ALLOW_PRIVATE skips the address check and the lookup, but still checks scheme and credentials', async () => {
    const open = new WebhookUrlGuard({ allowPrivate: true, lookup: () => Promise.reject(new Error('must not be called')) });
    expect(await open.resolve('http://127.0.0.1:9/h')).toMatchObject({ address: null });
    expect(await open.resolve('http://[::ffff:0:7f00:1]/h')).toMatchObject({ address: null });
    expect(await open.resolve('http://anything.invalid/h')).toMatchObject({ address: null });
    await expect(open.resolve('http://u:p@127.0.0.1/')).rejects.toBeInstanceOf(WebhookUrlRefusedError);
    await expect(open.resolve('gopher://127.0.0.1/')).rejects.toBeInstanceOf(WebhookUrlRefusedError);
  });
});
