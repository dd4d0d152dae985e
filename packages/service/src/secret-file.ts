/**
 * A secret shown to the operator outside the log stream: written to a file
 * only its owner can read, so logs (shipped, shared, kept) never hold it.
 */
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Owner read/write only. */
export const SECRET_FILE_MODE = 0o600;
/** Owner only, for a folder created to hold a secret file. */
const SECRET_DIR_MODE = 0o700;

/** Writes `value` (and a newline) to `path` with mode 0600, creating its folder; replaces any earlier file atomically. */
export async function writeSecretFile(path: string, value: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: SECRET_DIR_MODE });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${value}\n`, { mode: SECRET_FILE_MODE });
  // writeFile's mode only applies to a new file; a leftover temporary keeps its own.
  await chmod(temporary, SECRET_FILE_MODE);
  await rename(temporary, path);
}
