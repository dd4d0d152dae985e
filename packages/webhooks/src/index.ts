export * from './signing.ts';
export * from './address-guard.ts';
export * from './send.ts';
export * from './retry.ts';
export * from './delivery-log.ts';
export * from './secrets.ts';
export * from './events.ts';
export * from './job-webhooks.ts';
