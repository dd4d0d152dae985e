/**
 * The CLI's defaults from its environment. The CLI is a user's tool, not a
 * server process, so it reads its own variables, here and nowhere else.
 */

export const DEFAULT_URL = 'http://localhost:3000';

export interface CliSettings {
  /** DIGITQ_URL: the API's base URL; default http://localhost:3000. */
  url: string;
  /** DIGITQ_API_KEY: sent as Authorization: Bearer on every request; default none. */
  apiKey: string | undefined;
  /** DIGITQ_ADMIN_KEY: sent instead on admin routes (activate); default DIGITQ_API_KEY. */
  adminKey: string | undefined;
}

export function cliSettings(env: Record<string, string | undefined>): CliSettings {
  return {
    url: env.DIGITQ_URL || DEFAULT_URL,
    apiKey: env.DIGITQ_API_KEY || undefined,
    adminKey: env.DIGITQ_ADMIN_KEY || undefined,
  };
}
