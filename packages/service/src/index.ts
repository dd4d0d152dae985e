export * from './logger.ts';
export * from './shutdown.ts';
export * from './parent-watch.ts';
export * from './redis-server.ts';
export * from './load-config-or-exit.ts';
