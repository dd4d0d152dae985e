export * from './logger.ts';
export * from './shutdown.ts';
export * from './redis-server.ts';
