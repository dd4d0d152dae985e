import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, signWebhook, webhookHeaders } from './signing.ts';

const BODY = '{"type":"job.completed","timestamp":"2026-01-01T00:00:00.000Z","data":{"id":"a"}}';

describe('Standard Webhooks signing', () => {
  it('matches the reference implementation', () => {
    const secret = generateWebhookSecret();
    const timestamp = 1_767_225_600;
    expect(signWebhook([secret], 'msg_1', timestamp, BODY)).toBe(new Webhook(secret).sign('msg_1', new Date(timestamp * 1000), BODY));
  });

  it('signs with every secret during a rotation; a receiver with either secret verifies', () => {
    const [old, next] = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = webhookHeaders([old, next], 'msg_2', Math.floor(Date.now() / 1000), BODY);
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(old).verify(BODY, headers)).toEqual(JSON.parse(BODY));
    expect(new Webhook(next).verify(BODY, headers)).toEqual(JSON.parse(BODY));
    expect(() => new Webhook(generateWebhookSecret()).verify(BODY, headers)).toThrow(/signature/i);
    expect(() => new Webhook(old).verify(BODY.replace('"a"', '"b"'), headers)).toThrow();
  });

  it('generates 32-byte whsec_ secrets', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
  });

  it('refuses to sign without a secret', () => {
    expect(() => signWebhook([], 'id', 1, BODY)).toThrow(/no webhook secret/);
  });
});
