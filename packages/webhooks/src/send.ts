/**
 * One HTTP POST of a webhook, to the address the guard vetted: the request
 * keeps the URL's host name (Host header, TLS SNI and certificate check) but
 * its DNS lookup is replaced by one that returns the vetted address, so the
 * connection cannot land somewhere a second lookup would point. Redirects are
 * never followed (node:http does not; a 3xx is just a status). The timeout
 * covers everything up to the response headers (and, after them, cuts off a
 * body that never ends); the body is read and dropped, up to a small limit.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress, WebhookTarget } from './address-guard.ts';

export interface WebhookResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
}

/** No response headers within the timeout. */
export class WebhookTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no response within ${timeoutMs} ms`);
    this.name = 'WebhookTimeoutError';
  }
}

/** More of a response body than anyone needs to send with a status; the rest is cut off. */
const MAX_RESPONSE_BODY_BYTES = 64 * 1024;
const USER_AGENT = 'digitq-webhooks/0.1';

function pinnedLookup(vetted: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    // With autoSelectFamily (node's default), net asks for every address.
    if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [vetted]);
    else callback(null, vetted.address, vetted.family);
  };
}

export function postWebhook(target: WebhookTarget, headers: Record<string, string>, body: string, timeoutMs: number): Promise<WebhookResponse> {
  const { url } = target;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (action: () => void) => {
      if (settled) return;
      settled = true;
      action();
    };
    const req = client.request({
      method: 'POST',
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: { 'user-agent': USER_AGENT, ...headers, 'content-length': String(Buffer.byteLength(body)) },
      // One connection per attempt: a pooled socket could be one opened to an address vetted for another URL.
      agent: false,
      lookup: target.address ? pinnedLookup(target.address) : undefined,
    });
    const timer = setTimeout(() => req.destroy(new WebhookTimeoutError(timeoutMs)), timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      settle(() => reject(error));
    });
    req.on('response', (res) => {
      // The timer keeps running until the body ends, so a receiver trickling an endless body is cut off too.
      res.on('close', () => clearTimeout(timer));
      settle(() => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers }));
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > MAX_RESPONSE_BODY_BYTES) res.destroy();
      });
      // The status is all we need; a receiver that breaks off its body is not our concern.
      res.on('error', () => undefined);
    });
    req.end(body);
  });
}
