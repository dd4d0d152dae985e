/**
 * The operator surface (/admin/queues, /metrics) is for the admin, not for
 * API-key holders: bull-board shows every tenant's jobs. Who gets in:
 *
 * - admin credentials configured: `Authorization: Bearer <ADMIN_API_KEY>` or
 *   HTTP basic auth ADMIN_USER/ADMIN_PASSWORD (browsers get a Basic
 *   challenge, so the dashboard opens with a login prompt); else 401;
 * - no admin credentials and no API keys (local development, loopback
 *   only): everyone;
 * - no admin credentials but API keys: nobody (403), since any API key
 *   would otherwise see every tenant's jobs.
 */
import type { RequestHandler } from 'express';
import { AppError } from '@digitq/contracts';
import { bearerToken, secretsEqual } from './auth.ts';

export interface AdminCredentials {
  apiKey?: string;
  basic?: { user: string; password: string };
}

export interface AdminAuthOptions {
  credentials: AdminCredentials;
  /** Whether API keys are configured (the API is not open). */
  apiKeysEnabled: boolean;
}

export const ADMIN_REALM = 'digitq admin';

function basicLogin(header: string | undefined): { user: string; password: string } | null {
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function isAdmin(header: string | undefined, credentials: AdminCredentials): boolean {
  const token = bearerToken(header);
  if (token !== null) return credentials.apiKey !== undefined && secretsEqual(token, credentials.apiKey);
  const login = basicLogin(header);
  if (login === null || credentials.basic === undefined) return false;
  // Both compared whatever the first gave, so timing does not tell which was wrong.
  const userOk = secretsEqual(login.user, credentials.basic.user);
  const passwordOk = secretsEqual(login.password, credentials.basic.password);
  return userOk && passwordOk;
}

export function requireAdmin(options: AdminAuthOptions): RequestHandler {
  const { credentials } = options;
  const configured = credentials.apiKey !== undefined || credentials.basic !== undefined;
  return (req, res, next) => {
    if (!configured) {
      if (!options.apiKeysEnabled) return next();
      return next(new AppError('FORBIDDEN', 'the operator surface is closed: set ADMIN_API_KEY or ADMIN_USER and ADMIN_PASSWORD to open it'));
    }
    if (isAdmin(req.headers.authorization, credentials)) return next();
    // Basic first: browsers prompt for a login only when they find a Basic challenge.
    if (credentials.basic) res.append('WWW-Authenticate', `Basic realm="${ADMIN_REALM}", charset="UTF-8"`);
    if (credentials.apiKey) res.append('WWW-Authenticate', `Bearer realm="${ADMIN_REALM}"`);
    next(new AppError('UNAUTHORIZED', 'admin credentials needed: Authorization: Bearer <ADMIN_API_KEY>, or basic auth with ADMIN_USER and ADMIN_PASSWORD'));
  };
}
