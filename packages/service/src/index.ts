export * from './logger.ts';
export * from './shutdown.ts';
export * from './parent-watch.ts';
export * from './redis-server.ts';
export * from './load-config-or-exit.ts';
export * from './redis-health.ts';
export * from './secret-file.ts';
export * from './restart-policy.ts';
