import os from 'node:os';

/** Local names that redaction replaces, besides the fixed secret formats. */
export interface RedactOptions {
  /** Local user name(s), replaced wherever they appear as a whole word. */
  userNames: string[];
  /** Host names, short and fully qualified, replaced wherever they appear as a whole word. */
  hostNames: string[];
  /** Home directories outside `/home/NAME`, `/Users/NAME` and `C:\Users\NAME`, which are always replaced. */
  homeDirs?: string[];
}

/**
 * Names shorter than this are never redacted as words: a user called "li" would
 * otherwise turn every "li" in a crash line into a marker. Their home directories
 * are still replaced by `~`.
 */
export const MIN_NAME_LENGTH = 3;

/**
 * Account and host names that many machines share or that are ordinary words in
 * crash output. They identify no one, and replacing them would damage frames such as
 * `exo/worker/runner.py` or `/root/.cache`. Compared in lower case.
 */
export const COMMON_NAMES: ReadonlySet<string> = new Set([
  'root', 'admin', 'administrator', 'user', 'users', 'guest', 'nobody', 'daemon',
  'default', 'public', 'shared', 'system', 'local', 'localhost', 'localdomain', 'home',
  'test', 'dev', 'runner', 'worker', 'docker', 'ubuntu', 'debian', 'centos', 'fedora',
  'ec2-user', 'www-data', 'exo', 'python', 'node',
]);

/** Returns the names worth redacting as words: long enough, not common, without duplicates. */
export function distinctiveNames(names: readonly string[]): string[] {
  const distinctive = new Set<string>();
  for (const name of names) {
    const trimmed = name.trim();
    if (trimmed.length < MIN_NAME_LENGTH) continue;
    if (COMMON_NAMES.has(trimmed.toLowerCase())) continue;
    distinctive.add(trimmed);
  }
  return [...distinctive];
}

/** Returns false for `/`, a bare drive and empty paths, which would turn every absolute path into `~`. */
export function isUsableHomeDir(dir: string): boolean {
  return dir.replace(/[\\/]+$/, '').length > 2;
}

/**
 * Reads the local user name, host names and home directory from the OS.
 *
 * `os.userInfo()` throws when the uid has no passwd entry (common in containers), so
 * the user name then comes from `USER`, `LOGNAME` or `USERNAME` alone.
 */
export function localRedactOptions(): RedactOptions {
  const userNames: string[] = [];
  const homeDirs: string[] = [];

  try {
    const info = os.userInfo();
    userNames.push(info.username);
    homeDirs.push(info.homedir);
  } catch {
    // No passwd entry for this uid: the environment below is all there is.
  }
  for (const variable of ['USER', 'LOGNAME', 'USERNAME']) {
    const value = process.env[variable];
    if (value) userNames.push(value);
  }
  try {
    homeDirs.push(os.homedir());
  } catch {
    // os.homedir() throws only when neither HOME nor a passwd entry gives a directory.
  }

  const hostNames: string[] = [];
  const hostname = os.hostname();
  if (hostname) {
    hostNames.push(hostname);
    const shortName = hostname.split('.')[0];
    if (shortName && shortName !== hostname) hostNames.push(shortName);
  }

  return {
    userNames: unique(userNames),
    hostNames: unique(hostNames),
    homeDirs: unique(homeDirs.filter(isUsableHomeDir)),
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values.filter((value) => value.length > 0))];
}
