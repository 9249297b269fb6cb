import os from 'node:os';
import path from 'node:path';

import type { LogDirEnvironment } from '../node/log-dir.js';

export const STORE_FOLDER = 'telemetry_store';

/**
 * Returns the collector's default store under the exo data dir: `$EXO_HOME/telemetry_store`
 * when EXO_HOME is set, else on Linux `$XDG_DATA_HOME/exo/telemetry_store` (default
 * `~/.local/share/exo/telemetry_store`), else `~/.exo/telemetry_store`.
 */
export function defaultStoreDir(
  where: LogDirEnvironment = { env: process.env, platform: process.platform, homeDir: os.homedir() },
): string {
  const exoHome = where.env.EXO_HOME;
  if (exoHome !== undefined && exoHome !== '') {
    return path.join(path.resolve(exoHome), STORE_FOLDER);
  }
  if (where.platform === 'linux') {
    // The XDG Base Directory spec calls a relative path invalid, so it is ignored.
    const xdgData = where.env.XDG_DATA_HOME;
    const dataHome = xdgData !== undefined && path.isAbsolute(xdgData) ? xdgData : path.join(where.homeDir, '.local', 'share');
    return path.join(dataHome, 'exo', STORE_FOLDER);
  }
  return path.join(where.homeDir, '.exo', STORE_FOLDER);
}
