export * from './queues.ts';
export * from './inference.ts';
export * from './job-view.ts';
export * from './errors.ts';
export * from './http.ts';
export * from './webhooks.ts';
export * from './models.ts';
export * from './training.ts';
