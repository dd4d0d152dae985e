export * from './redis-connection.ts';
export * from './queues.ts';
export * from './cancel-requests.ts';
export * from './job-waiter.ts';
export * from './inference-jobs.ts';
export * from './training-jobs.ts';
export * from './worker-heartbeats.ts';
export * from './idempotency.ts';
