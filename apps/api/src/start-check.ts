/**
 * Refuses to expose an open API: without API_KEYS anyone who can reach the
 * port could submit jobs and read everyone's results, so the API then binds
 * to loopback only. Pure, so it is unit-tested; main.ts logs the warnings
 * and exits 1 on a refusal.
 */
import { isIP } from 'node:net';
import type { Config } from '@digitq/config';

export type StartCheckConfig = Pick<Config, 'HOST' | 'API_KEYS' | 'ADMIN_API_KEY' | 'ADMIN_USER'>;

export interface StartCheck {
  /** Why the API must not start, or null. */
  refusal: string | null;
  warnings: string[];
}

const LOOPBACK_NAMES = new Set(['localhost', 'ip6-localhost', 'ip6-loopback']);

/** Whether `host` is a loopback address or name: 127.0.0.0/8, ::1, ::ffff:127.x.x.x, localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (LOOPBACK_NAMES.has(bare)) return true;
  switch (isIP(bare)) {
    case 4:
      return bare.startsWith('127.');
    case 6:
      return bare === '::1' || /^(0{0,4}:){1,7}0{0,3}1$/.test(bare) || /^::ffff:127\./.test(bare);
    default:
      return false;
  }
}

export function checkStart(config: StartCheckConfig): StartCheck {
  const keys = config.API_KEYS?.length ?? 0;
  const admin = config.ADMIN_API_KEY !== undefined || config.ADMIN_USER !== undefined;
  if (keys === 0) {
    if (!isLoopbackHost(config.HOST)) {
      return {
        refusal: `refusing to listen on HOST=${config.HOST} without API_KEYS: anyone who can reach it could submit jobs and read their results. Set API_KEYS (e.g. API_KEYS=alice:<random key of 16+ characters>) or listen on loopback (HOST=127.0.0.1)`,
        warnings: [],
      };
    }
    return {
      refusal: null,
      warnings: [`no API_KEYS: the API is open to every process on this machine, so it listens on loopback only (HOST=${config.HOST}); set API_KEYS to serve beyond it`],
    };
  }
  return {
    refusal: null,
    warnings: admin ? [] : ['no ADMIN_API_KEY or ADMIN_USER/ADMIN_PASSWORD: /admin/queues and /metrics answer 403 until one is set'],
  };
}
