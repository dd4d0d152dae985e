/**
 * Standard Webhooks signatures: HMAC-SHA256 over `<id>.<timestamp>.<body>`
 * keyed with the secret's decoded base64 part, sent as `v1,<base64>`. With
 * several secrets (rotation) the header carries one signature per secret,
 * space-separated; a receiver accepts the message if any of them matches.
 */
import { createHmac, randomBytes } from 'node:crypto';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Bytes of a generated secret (the spec recommends 24 to 64). */
const GENERATED_SECRET_BYTES = 32;

export function generateWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(GENERATED_SECRET_BYTES).toString('base64')}`;
}

function secretKey(secret: string): Buffer {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) throw new Error(`a webhook secret must start with ${WEBHOOK_SECRET_PREFIX}`);
  return Buffer.from(secret.slice(WEBHOOK_SECRET_PREFIX.length), 'base64');
}

/** The `webhook-signature` header value for one message. */
export function signWebhook(secrets: readonly string[], id: string, timestampS: number, body: string): string {
  if (secrets.length === 0) throw new Error('no webhook secret to sign with');
  const content = `${id}.${timestampS}.${body}`;
  return secrets.map((secret) => `v1,${createHmac('sha256', secretKey(secret)).update(content).digest('base64')}`).join(' ');
}

/** The three Standard Webhooks headers, plus the content type. */
export function webhookHeaders(secrets: readonly string[], id: string, timestampS: number, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestampS),
    'webhook-signature': signWebhook(secrets, id, timestampS, body),
  };
}
