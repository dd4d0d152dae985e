export * from './redis-server.ts';
export * from './test-redis-url.ts';
