import os from 'node:os';

/**
 * errno names come from `os.constants.errno` of the machine running exo. On Linux,
 * where the tests run, that is the Linux table. Linux and macOS agree on numbers up
 * to 34 (EFAULT is 14, EINVAL is 22 on both) and differ above: 60 is ETIMEDOUT on
 * macOS but ENOSTR on Linux. A macOS log read on Linux therefore gets the Linux name,
 * and a number the table lacks gets no name at all.
 */
const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(os.constants.errno)) {
  // Aliases share a number (EAGAIN and EWOULDBLOCK); the first one listed wins.
  if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);
}

/** Short descriptions of the errno values that runners report most, keyed by name. */
const ERRNO_DESCRIPTIONS: Readonly<Record<string, string>> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ESRCH: 'no such process',
  EINTR: 'interrupted by a signal',
  EIO: 'input/output error',
  ENXIO: 'no such device or address',
  EBADF: 'bad file descriptor',
  EAGAIN: 'resource temporarily unavailable',
  ENOMEM: 'out of memory',
  EACCES: 'permission denied',
  EFAULT: 'bad address',
  EBUSY: 'device or resource busy',
  EEXIST: 'file exists',
  ENODEV: 'no such device',
  EINVAL: 'invalid argument',
  ENFILE: 'too many open files in the system',
  EMFILE: 'too many open files in the process',
  ENOSPC: 'no space left on device',
  EPIPE: 'broken pipe',
  ERANGE: 'result out of range',
  EDEADLK: 'deadlock avoided',
  ENOSYS: 'function not implemented',
  ENODATA: 'no data available',
  ETIME: 'timer expired',
  EPROTO: 'protocol error',
  ENOTSOCK: 'not a socket',
  EMSGSIZE: 'message too long',
  ENOTSUP: 'operation not supported',
  EOPNOTSUPP: 'operation not supported',
  EAFNOSUPPORT: 'address family not supported',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  ENETDOWN: 'network is down',
  ENETUNREACH: 'network unreachable',
  ENETRESET: 'connection reset by the network',
  ECONNABORTED: 'connection aborted',
  ECONNRESET: 'connection reset by peer',
  ENOBUFS: 'no buffer space available',
  EISCONN: 'socket already connected',
  ENOTCONN: 'socket not connected',
  ETIMEDOUT: 'connection timed out',
  ECONNREFUSED: 'connection refused',
  EHOSTUNREACH: 'host unreachable',
  EALREADY: 'operation already in progress',
  EINPROGRESS: 'operation in progress',
  ECANCELED: 'operation canceled',
};

export interface ErrnoInfo {
  errno: number;
  /** Symbolic name such as `EFAULT`, when the table has the number. */
  name?: string;
  /** A few words for a person, such as "bad address", when known. */
  description?: string;
}

/** Looks up the name and description of an errno number. */
export function lookupErrno(errno: number): ErrnoInfo {
  const name = ERRNO_NAMES.get(errno);
  if (name === undefined) return { errno };
  const description = ERRNO_DESCRIPTIONS[name];
  return description === undefined ? { errno, name } : { errno, name, description };
}

/** Formats an errno for a message, such as "errno 14 (EFAULT, bad address)". */
export function formatErrno(info: ErrnoInfo): string {
  const parts = [info.name, info.description].filter((part) => part !== undefined);
  return parts.length === 0 ? `errno ${info.errno}` : `errno ${info.errno} (${parts.join(', ')})`;
}

/** Returns the fields a diagnostic carries for an errno: errno, errnoName, errnoDescription. */
export function errnoFields(info: ErrnoInfo): Record<string, string | number> {
  const fields: Record<string, string | number> = { errno: info.errno };
  if (info.name !== undefined) fields.errnoName = info.name;
  if (info.description !== undefined) fields.errnoDescription = info.description;
  return fields;
}
