export { startRedisServer, freePort, waitForRedis, type RunningRedis } from '@digitq/service';
export * from './test-redis-url.ts';
export * from './redis-connections.ts';
export * from './app-processes.ts';
export * from './temp-dirs.ts';
export * from './model-folders.ts';
export * from './misread-style.ts';
