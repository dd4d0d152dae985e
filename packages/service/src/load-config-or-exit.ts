import { ConfigError, loadConfig, type Config } from '@digitq/config';
import { createLogger } from './logger.ts';

/**
 * The configuration, or exit 1 with one fatal log line naming every invalid
 * variable: how every long-running process starts.
 */
export function loadConfigOrExit(processName: string): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createLogger(processName, 'info').fatal({ issues: error.issues }, error.message);
    process.exit(1);
  }
}
