/**
 * SSRF guard for webhook URLs. A client must not be able to make our
 * workers POST into the private network, so a URL is refused unless it is
 * http(s), carries no credentials, and every address its host resolves to is
 * public. The caller connects to the address vetted here (see send.ts), so a
 * DNS answer that changes between check and connect (rebinding) is not used.
 *
 * The API checks at submit (a clear 422) and the delivering worker checks
 * again before every attempt (DNS may have changed since).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIPv4, isIPv6 } from 'node:net';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** A URL no delivery will go to; final, retrying will not help. */
export class WebhookUrlRefusedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WebhookUrlRefusedError';
  }
}

/** The URL's host did not resolve (or not in time); may pass later. */
export class WebhookHostUnresolvedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WebhookHostUnresolvedError';
  }
}

/** A vetted destination: connect to `address` (null: any, when private addresses are allowed) for `url`. */
export interface WebhookTarget {
  url: URL;
  address: ResolvedAddress | null;
}

export interface WebhookUrlGuardOptions {
  /** Allow non-public addresses (WEBHOOK_ALLOW_PRIVATE): no address check and no lookup. */
  allowPrivate: boolean;
  /** Resolves a host name to all its addresses. Default: the system resolver (dns.lookup). */
  lookup?: (hostname: string) => Promise<ResolvedAddress[]>;
  /** Default DNS_LOOKUP_TIMEOUT_MS. */
  lookupTimeoutMs?: number;
}

export const DNS_LOOKUP_TIMEOUT_MS = 5000;
const ALLOWED_PROTOCOLS = ['http:', 'https:'];
const ALLOW_PRIVATE_HINT = 'set WEBHOOK_ALLOW_PRIVATE=true to allow private receivers';

// ---- address classification -------------------------------------------------------------------

interface Range {
  bytes: number[];
  prefix: number;
  kind: string;
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

/** 16 bytes of an IPv6 address in any textual form (`::`, embedded dotted IPv4). */
function ipv6Bytes(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = ipv4Bytes(dotted[1]!) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.flatMap((group) => {
    const value = parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}

function range(cidr: string, kind: string): Range {
  const [address, prefix] = cidr.split('/') as [string, string];
  return { bytes: isIPv4(address) ? ipv4Bytes(address) : ipv6Bytes(address), prefix: Number(prefix), kind };
}

function inRange(bytes: readonly number[], r: Range): boolean {
  if (bytes.length !== r.bytes.length) return false;
  for (let bit = 0; bit < r.prefix; bit += 8) {
    const bits = Math.min(8, r.prefix - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    if (((bytes[bit / 8]! ^ r.bytes[bit / 8]!) & mask) !== 0) return false;
  }
  return true;
}

/** First match wins, so the specific ranges (metadata, broadcast) come before the ranges holding them. */
const IPV4_REFUSED: readonly Range[] = [
  range('169.254.169.254/32', 'cloud metadata'),
  range('255.255.255.255/32', 'broadcast'),
  range('0.0.0.0/8', 'unspecified ("this network")'),
  range('10.0.0.0/8', 'private (RFC 1918)'),
  range('100.64.0.0/10', 'shared (carrier-grade NAT)'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private (RFC 1918)'),
  range('192.0.0.0/24', 'reserved (IETF protocol assignments)'),
  range('192.0.2.0/24', 'reserved (documentation)'),
  range('192.88.99.0/24', 'reserved (6to4 relay)'),
  range('192.168.0.0/16', 'private (RFC 1918)'),
  range('198.18.0.0/15', 'reserved (benchmarking)'),
  range('198.51.100.0/24', 'reserved (documentation)'),
  range('203.0.113.0/24', 'reserved (documentation)'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved'),
];

const IPV6_REFUSED: readonly Range[] = [
  range('fd00:ec2::254/128', 'cloud metadata'),
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('::/96', 'reserved (IPv4-compatible)'),
  range('64:ff9b:1::/48', 'reserved (local NAT64)'),
  range('100::/64', 'reserved (discard)'),
  range('2001:db8::/32', 'reserved (documentation)'),
  range('fc00::/7', 'private (unique local)'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'reserved (site-local)'),
  range('ff00::/8', 'multicast'),
];

/** IPv6 ranges that carry an IPv4 address, and where: judged by that address. */
const IPV6_EMBEDDING_IPV4: readonly { range: Range; offset: number; form: string }[] = [
  { range: range('::ffff:0:0/96', ''), offset: 12, form: 'IPv4-mapped' },
  { range: range('64:ff9b::/96', ''), offset: 12, form: 'NAT64' },
  { range: range('2002::/16', ''), offset: 2, form: '6to4' },
];

/** Why `address` (an IP literal) may not receive webhooks, e.g. "loopback", or null if it is public. */
export function refusedAddressKind(address: string): string | null {
  if (isIPv4(address)) {
    const bytes = ipv4Bytes(address);
    return IPV4_REFUSED.find((r) => inRange(bytes, r))?.kind ?? null;
  }
  if (!isIPv6(address)) return 'not an IP address';
  const bytes = ipv6Bytes(address);
  for (const { range: r, offset, form } of IPV6_EMBEDDING_IPV4) {
    if (!inRange(bytes, r)) continue;
    const embedded = bytes.slice(offset, offset + 4);
    const kind = IPV4_REFUSED.find((v4) => inRange(embedded, v4))?.kind;
    return kind ? `${form} form of ${embedded.join('.')}: ${kind}` : null;
  }
  return IPV6_REFUSED.find((r) => inRange(bytes, r))?.kind ?? null;
}

// ---- URL check ----------------------------------------------------------------------------------

async function systemLookup(hostname: string): Promise<ResolvedAddress[]> {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class WebhookUrlGuard {
  private readonly lookup: (hostname: string) => Promise<ResolvedAddress[]>;
  private readonly lookupTimeoutMs: number;

  constructor(private readonly options: WebhookUrlGuardOptions) {
    this.lookup = options.lookup ?? systemLookup;
    this.lookupTimeoutMs = options.lookupTimeoutMs ?? DNS_LOOKUP_TIMEOUT_MS;
  }

  /**
   * Checks `rawUrl` and resolves its host. Throws WebhookUrlRefusedError for a
   * URL that must never be called, WebhookHostUnresolvedError when DNS gives
   * no answer.
   */
  async resolve(rawUrl: string): Promise<WebhookTarget> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch (cause) {
      throw new WebhookUrlRefusedError(`webhook URL refused: ${JSON.stringify(rawUrl)} is not a URL`, { cause });
    }
    if (!ALLOWED_PROTOCOLS.includes(url.protocol)) {
      throw new WebhookUrlRefusedError(`webhook URL refused: only http and https are allowed, not ${url.protocol.slice(0, -1)}`);
    }
    if (url.username !== '' || url.password !== '') {
      throw new WebhookUrlRefusedError('webhook URL refused: it must not carry credentials (user:password@)');
    }
    if (this.options.allowPrivate) return { url, address: null };

    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    let addresses: ResolvedAddress[];
    if (isIPv4(host) || isIPv6(host)) {
      addresses = [{ address: host, family: isIPv4(host) ? 4 : 6 }];
    } else {
      try {
        addresses = await withTimeout(this.lookup(host), this.lookupTimeoutMs, `no DNS answer within ${this.lookupTimeoutMs} ms`);
      } catch (cause) {
        throw new WebhookHostUnresolvedError(`webhook host ${host} does not resolve (${(cause as Error).message})`, { cause });
      }
      if (addresses.length === 0) throw new WebhookHostUnresolvedError(`webhook host ${host} has no address`);
    }
    // Every address must be public: a host with one public and one private address could be connected to either.
    for (const { address } of addresses) {
      const kind = refusedAddressKind(address);
      if (kind) {
        const where = address === host ? host : `${host} resolves to ${address}, which`;
        throw new WebhookUrlRefusedError(`webhook URL refused: ${where} is not a public address (${kind}); webhooks only go to public addresses (${ALLOW_PRIVATE_HINT})`);
      }
    }
    return { url, address: addresses[0]! };
  }
}
