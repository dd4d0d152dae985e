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
//
// The tables follow the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890, updated by
// RFC 8190; https://www.iana.org/assignments/iana-ipv4-special-registry and .../iana-ipv6-special-registry),
// row by row, plus the few ranges outside them that are just as unfit (multicast, site-local, the deprecated
// IPv4-embedding forms). Every row of both registries is refused, including the few the registries mark
// globally reachable (the AS112 DNS sinks, AMT relays, PCP/TURN/DNS-SD anycast, ORCHIDv2, drone tags):
// they are protocol anycast services and overlay identifiers, never where a webhook receiver lives, and
// "the whole registry" is a rule a reviewer can check line by line. Only the forms that carry an IPv4
// address (IPv4-mapped, NAT64 well-known prefix, 6to4, ISATAP) can pass, when the address they carry does.

/** An IP address as bytes, network order: 4 for IPv4, 16 for IPv6. */
type Bytes = readonly number[];

interface Range {
  bytes: Bytes;
  prefix: number;
}

/** A range refused outright; `kind` says why in the refusal message. */
interface RefusedRange {
  range: Range;
  kind: string;
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

/** 16 bytes of an IPv6 address already checked by isIPv6 and without a zone id (`::` and a dotted IPv4 tail allowed). */
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

function range(cidr: string): Range {
  const [address, prefix] = cidr.split('/') as [string, string];
  return { bytes: isIPv4(address) ? ipv4Bytes(address) : ipv6Bytes(address), prefix: Number(prefix) };
}

function refused(cidr: string, kind: string): RefusedRange {
  return { range: range(cidr), kind };
}

function inRange(bytes: Bytes, r: Range): boolean {
  if (bytes.length !== r.bytes.length) return false;
  for (let bit = 0; bit < r.prefix; bit += 8) {
    const bits = Math.min(8, r.prefix - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    if (((bytes[bit / 8]! ^ r.bytes[bit / 8]!) & mask) !== 0) return false;
  }
  return true;
}

/**
 * IPv4, first match wins (so the metadata address and broadcast come before the ranges holding them).
 * Registry rows: https://www.iana.org/assignments/iana-ipv4-special-registry; multicast from RFC 5771.
 */
const IPV4_REFUSED: readonly RefusedRange[] = [
  refused('169.254.169.254/32', 'cloud metadata'), // AWS, GCP, Azure, OpenStack instance metadata
  refused('255.255.255.255/32', 'broadcast'), // limited broadcast, RFC 8190, RFC 919 §7
  refused('0.0.0.0/8', 'unspecified ("this network")'), // RFC 791 §3.2; 0.0.0.0/32 "this host", RFC 1122 §3.2.1.3
  refused('10.0.0.0/8', 'private (RFC 1918)'),
  refused('100.64.0.0/10', 'shared (carrier-grade NAT)'), // RFC 6598
  refused('127.0.0.0/8', 'loopback'), // RFC 1122 §3.2.1.3
  refused('169.254.0.0/16', 'link-local'), // RFC 3927
  refused('172.16.0.0/12', 'private (RFC 1918)'),
  // RFC 6890 §2.1; holds 192.0.0.0/29 (RFC 7335), 192.0.0.8/32 (RFC 7600), 192.0.0.170-171 (RFC 8880) and the
  // globally reachable anycast 192.0.0.9/32 (PCP, RFC 7723) and 192.0.0.10/32 (TURN, RFC 8155): all refused.
  refused('192.0.0.0/24', 'reserved (IETF protocol assignments)'),
  refused('192.0.2.0/24', 'reserved (documentation)'), // TEST-NET-1, RFC 5737
  refused('192.31.196.0/24', 'special-purpose (AS112 DNS anycast)'), // RFC 7535; registry: globally reachable
  refused('192.52.193.0/24', 'special-purpose (AMT relay anycast)'), // RFC 7450; registry: globally reachable
  refused('192.88.99.0/24', 'reserved (6to4 relay)'), // deprecated, RFC 7526
  refused('192.168.0.0/16', 'private (RFC 1918)'),
  refused('192.175.48.0/24', 'special-purpose (AS112 DNS anycast)'), // RFC 7534; registry: globally reachable
  refused('198.18.0.0/15', 'reserved (benchmarking)'), // RFC 2544
  refused('198.51.100.0/24', 'reserved (documentation)'), // TEST-NET-2, RFC 5737
  refused('203.0.113.0/24', 'reserved (documentation)'), // TEST-NET-3, RFC 5737
  refused('224.0.0.0/4', 'multicast'), // RFC 5771
  refused('240.0.0.0/4', 'reserved'), // RFC 1112 §4
];

function ipv4RefusedKind(bytes: Bytes): string | null {
  return IPV4_REFUSED.find((r) => inRange(bytes, r.range))?.kind ?? null;
}

/** An IPv6 form that carries IPv4 addresses: judged by them (see refusedEvenIfPublic). */
interface Ipv4Carrier {
  /** Named in messages: "<form> form of 127.0.0.1: loopback". */
  form: string;
  /** The IPv4 addresses it carries, each with its role ('' or e.g. 'client '). */
  embedded: (bytes: Bytes) => { role: string; bytes: Bytes }[];
  /** Why the form is refused even when all it carries is public; null when it then passes. */
  refusedEvenIfPublic: string | null;
}

/** A prefix whose addresses carry IPv4 addresses. */
interface Ipv4Embedding extends Ipv4Carrier {
  range: Range;
}

const lastFourBytes = (bytes: Bytes) => [{ role: '', bytes: bytes.slice(12, 16) }];

function embedding(cidr: string, form: string, embedded: Ipv4Carrier['embedded'], refusedEvenIfPublic: string | null): Ipv4Embedding {
  return { range: range(cidr), form, embedded, refusedEvenIfPublic };
}

/**
 * IPv6, first match wins: ::/128 and ::1/128 before the IPv4-compatible ::/96 holding them, Teredo before
 * the 2001::/23 holding it, the metadata address before fc00::/7.
 * Registry rows: https://www.iana.org/assignments/iana-ipv6-special-registry; the rest cited per row.
 */
const IPV6_RULES: readonly (RefusedRange | Ipv4Embedding)[] = [
  refused('::/128', 'unspecified'), // RFC 4291 §2.5.2
  refused('::1/128', 'loopback'), // RFC 4291 §2.5.3
  // RFC 4291 §2.5.5.2. The host's own stack sends it as IPv4 to exactly the embedded address: judge that.
  embedding('::ffff:0:0/96', 'IPv4-mapped', lastFourBytes, null),
  // SIIT, RFC 2765 §2.1, dropped by RFC 6145 and in no registry: no receiver lives at one, and what a translator
  // on our path would make of it is unknown, so refused whatever it carries.
  embedding('::ffff:0:0:0/96', 'IPv4-translated', lastFourBytes, 'obsolete SIIT form (RFC 2765), never a destination'),
  // RFC 4291 §2.5.5.1, deprecated; automatic tunnelling (RFC 2893, e.g. Linux sit0) sends it to the embedded IPv4.
  embedding('::/96', 'IPv4-compatible', lastFourBytes, 'deprecated form (RFC 4291 §2.5.5.1), never a destination'),
  // NAT64 well-known prefix, RFC 6052 §2.1 (/96: IPv4 in the last 32 bits). The translator sends it to the
  // embedded IPv4, so judge that (RFC 6052 §3.1 forbids non-global IPv4 under it, but we don't rely on that).
  embedding('64:ff9b::/96', 'NAT64', lastFourBytes, null),
  // Local-use NAT64, RFC 8215: not globally reachable, and its operator picks the prefix length (RFC 6052 §2.2,
  // /48 to /96), so where the IPv4 address sits cannot be known from outside: refused whole.
  refused('64:ff9b:1::/48', 'reserved (local-use NAT64, RFC 8215)'),
  refused('100::/64', 'reserved (discard-only, RFC 6666)'),
  refused('100:0:0:1::/64', 'reserved (dummy prefix, RFC 9780)'),
  // Teredo, RFC 4380 §4: server IPv4 in bits 32-63, client IPv4 in bits 96-127 inverted. Refused whatever it
  // carries: both addresses come from whoever wrote the URL, a host with a Teredo interface would send UDP to
  // them, the registry marks the block not globally reachable ("N/A", inside the non-global 2001::/23), and the
  // public Teredo servers are gone, so there is no receiver to lose.
  embedding(
    '2001::/32',
    'Teredo',
    (bytes) => [
      { role: 'server ', bytes: bytes.slice(4, 8) },
      { role: 'client ', bytes: bytes.slice(12, 16).map((b) => b ^ 0xff) },
    ],
    'Teredo tunnel (RFC 4380), not globally reachable',
  ),
  // IETF protocol assignments, RFC 2928. Holds 2001:2::/48 benchmarking (RFC 5180) and 2001:10::/28 (deprecated
  // ORCHID, RFC 4843), and the globally reachable 2001:1::1/128 PCP (RFC 7723), 2001:1::2/128 TURN (RFC 8155),
  // 2001:1::3/128 DNS-SD SRP (RFC 9665) anycast, 2001:3::/32 AMT (RFC 7450), 2001:4:112::/48 AS112 (RFC 7535),
  // 2001:20::/28 ORCHIDv2 (RFC 7343), 2001:30::/28 drone tags (RFC 9374): all refused with it.
  refused('2001::/23', 'reserved (IETF protocol assignments)'),
  refused('2001:db8::/32', 'reserved (documentation)'), // RFC 3849
  // 6to4, RFC 3056 §2: IPv4 in bits 16-47; a 6to4 router or relay tunnels it to that IPv4 address: judge that.
  embedding('2002::/16', '6to4', (bytes) => [{ role: '', bytes: bytes.slice(2, 6) }], null),
  refused('2620:4f:8000::/48', 'special-purpose (AS112 DNS anycast)'), // RFC 7534; registry: globally reachable
  refused('3fff::/20', 'reserved (documentation)'), // RFC 9637
  refused('5f00::/16', 'reserved (SRv6 SIDs, RFC 9602)'),
  refused('fd00:ec2::254/128', 'cloud metadata'), // AWS instance metadata over IPv6
  refused('fc00::/7', 'private (unique local)'), // RFC 4193
  refused('fe80::/10', 'link-local'), // RFC 4291 §2.5.6
  refused('fec0::/10', 'reserved (site-local)'), // deprecated, RFC 3879
  refused('ff00::/8', 'multicast'), // RFC 4291 §2.7
];

/** RFC 4291 §2.4, IANA IPv6 Address Space: global unicast is 2000::/3; the rest is reserved or special. */
const IPV6_GLOBAL_UNICAST = range('2000::/3');

/**
 * ISATAP (RFC 5214 §6.1): any prefix with the interface identifier 0:5efe:<IPv4> (first octet's u/g bits
 * may be set). A node on that ISATAP link tunnels to the IPv4 address, so one that is not public is refused.
 */
const ISATAP: Ipv4Carrier = { form: 'ISATAP', embedded: lastFourBytes, refusedEvenIfPublic: null };
const ISATAP_IID_MARKER = [0x00, 0x5e, 0xfe];
const U_G_BITS = 0x03;

function isIsatap(bytes: Bytes): boolean {
  return (bytes[8]! & ~U_G_BITS) === 0 && ISATAP_IID_MARKER.every((b, i) => bytes[9 + i] === b);
}

function formatIpv4(bytes: Bytes): string {
  return bytes.join('.');
}

function judgeCarrier(rule: Ipv4Carrier, bytes: Bytes): string | null {
  const carried = rule.embedded(bytes);
  for (const { role, bytes: v4 } of carried) {
    const kind = ipv4RefusedKind(v4);
    if (kind) return `${rule.form} form of ${role}${formatIpv4(v4)}: ${kind}`;
  }
  if (!rule.refusedEvenIfPublic) return null;
  return `${rule.form} form of ${carried.map(({ role, bytes: v4 }) => `${role}${formatIpv4(v4)}`).join(', ')}: ${rule.refusedEvenIfPublic}`;
}

/** Why `address` (an IP literal) may not receive webhooks, e.g. "loopback", or null if it is public. */
export function refusedAddressKind(address: string): string | null {
  if (isIPv4(address)) return ipv4RefusedKind(ipv4Bytes(address));
  if (!isIPv6(address)) return 'not an IP address';
  // A zone id (fe80::1%eth0) only means something for a non-global address; none is a webhook receiver.
  if (address.includes('%')) return 'scoped (has a zone id)';
  const bytes = ipv6Bytes(address);
  const rule = IPV6_RULES.find((r) => inRange(bytes, r.range));
  if (rule) return 'kind' in rule ? rule.kind : judgeCarrier(rule, bytes);
  if (!inRange(bytes, IPV6_GLOBAL_UNICAST)) return 'reserved (not global unicast 2000::/3)';
  return isIsatap(bytes) ? judgeCarrier(ISATAP, bytes) : null;
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
