import { describe, expect, it } from 'vitest';
import { WebhookHostUnresolvedError, WebhookUrlGuard, WebhookUrlRefusedError, refusedAddressKind, type ResolvedAddress } from './address-guard.ts';

describe('refusedAddressKind', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.0.0.1', 'private (RFC 1918)'],
    ['172.16.0.1', 'private (RFC 1918)'],
    ['172.31.255.255', 'private (RFC 1918)'],
    ['192.168.1.1', 'private (RFC 1918)'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['100.127.255.254', 'shared (carrier-grade NAT)'],
    ['169.254.169.254', 'cloud metadata'],
    ['169.254.1.1', 'link-local'],
    ['0.0.0.0', 'unspecified ("this network")'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fc00::1', 'private (unique local)'],
    ['fd12:3456::1', 'private (unique local)'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped form of 127.0.0.1: loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped form of 127.0.0.1: loopback'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped form of 169.254.169.254: cloud metadata'],
    ['0:0:0:0:0:ffff:0a00:0001', 'IPv4-mapped form of 10.0.0.1: private (RFC 1918)'],
    ['64:ff9b::a00:1', 'NAT64 form of 10.0.0.1: private (RFC 1918)'],
    ['2002:7f00:1::', '6to4 form of 127.0.0.1: loopback'],
  ])('refuses %s (%s)', (address, kind) => {
    expect(refusedAddressKind(address)).toBe(kind);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '169.255.0.1', '2606:4700:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    'accepts the public address %s',
    (address) => {
      expect(refusedAddressKind(address)).toBeNull();
    },
  );
});

function guardWith(answers: Record<string, ResolvedAddress[]>): WebhookUrlGuard {
  return new WebhookUrlGuard({
    allowPrivate: false,
    lookup: async (hostname) => {
      const found = answers[hostname];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return found;
    },
  });
}

describe('WebhookUrlGuard', () => {
  const guard = guardWith({
    'hooks.example.com': [{ address: '93.184.216.34', family: 4 }],
    'internal.example.com': [{ address: '10.1.2.3', family: 4 }],
    'split.example.com': [
      { address: '93.184.216.34', family: 4 },
      { address: '::1', family: 6 },
    ],
    localhost: [{ address: '127.0.0.1', family: 4 }],
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
    ['http://2130706433/', /127\.0\.0\.1 is not a public address/],
    ['http://0x7f.1/', /127\.0\.0\.1 is not a public address/],
    ['http://internal.example.com/', /internal\.example\.com resolves to 10\.1\.2\.3, which is not a public address/],
    ['http://split.example.com/', /resolves to ::1/],
    ['http://localhost:3000/', /localhost resolves to 127\.0\.0\.1/],
    ['ftp://hooks.example.com/', /only http and https/],
    ['file:///etc/passwd', /only http and https/],
    ['https://user:secret@hooks.example.com/', /credentials/],
    ['not a url', /is not a URL/],
  ])('refuses %s', async (url, message) => {
    const error = await guard.resolve(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebhookUrlRefusedError);
    expect((error as Error).message).toMatch(message);
  });

  it('reports a host that does not resolve as unresolved, not refused', async () => {
    const error = await guard.resolve('https://nowhere.example.com/').catch((e: unknown) => e);
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
    expect(await open.resolve('http://anything.invalid/h')).toMatchObject({ address: null });
    await expect(open.resolve('http://u:p@127.0.0.1/')).rejects.toBeInstanceOf(WebhookUrlRefusedError);
    await expect(open.resolve('gopher://127.0.0.1/')).rejects.toBeInstanceOf(WebhookUrlRefusedError);
  });
});
