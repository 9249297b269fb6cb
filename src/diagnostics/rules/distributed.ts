import { errnoFields, formatErrno, lookupErrno } from '../errno.js';
import { type Finding, setDefined, toNumber } from './finding.js';

/** MLX ring backend: "[ring] Receiving from socket 51 failed with errno 14", and the same for sending. */
const RING_TRANSFER_FAILED = /\b(Receiv|Send)ing (?:from|to) socket\W{0,3}(\d{1,10})\W{1,3}failed with errno\W{0,3}(-?\d{1,6})/i;
/** MLX ring backend giving up: "[ring] Too many send/recv errors. Aborting...". */
const RING_TRANSPORT_ABORT = /too many send\s?\/\s?recv errors/i;
/** Connection set-up failures of ring and jaccl: "[ring] Couldn't connect (error: 60)". */
const COULD_NOT_CONNECT = /\bcould(?:n['’]?t| not) (connect|bind|listen|accept)\b/i;
const ERRNO_VALUE = /\berrno\W{0,3}(-?\d{1,6})|\(error\W{0,3}(-?\d{1,6})\)/i;

/** Tags match on the word alone, because real output loses or mangles their brackets. */
const RING_TAG = /\bring\b/i;
const JACCL_TAG = /\bjaccl\b/i;
const JACCL_FAILURE = /fail|could(?:n['’]?t| not)|cannot|error|errno|deadline|timed out/i;

/** Finds ring backend send, receive and connect errors, and the transport abort. */
export function matchRing(text: string, findings: Finding[]): void {
  const transfer = RING_TRANSFER_FAILED.exec(text);
  if (transfer !== null) {
    const receiving = transfer[1]!.toLowerCase() === 'receiv';
    const errno = lookupErrno(Number.parseInt(transfer[3]!, 10));
    findings.push({
      kind: receiving ? 'ring.receive_error' : 'ring.send_error',
      message: `ring ${receiving ? 'receive' : 'send'} error: ${formatErrno(errno)}`,
      fields: { socket: Number.parseInt(transfer[2]!, 10), ...errnoFields(errno) },
      index: transfer.index,
    });
  }

  const abort = RING_TRANSPORT_ABORT.exec(text);
  if (abort !== null) {
    findings.push({
      kind: 'ring.transport_abort',
      message: 'ring transport abort after too many send/receive errors',
      fields: {},
      index: abort.index,
    });
  }

  const connect = COULD_NOT_CONNECT.exec(text);
  if (connect !== null && RING_TAG.test(text) && !JACCL_TAG.test(text)) {
    const operation = connect[1]!.toLowerCase();
    const errno = readErrno(text);
    const fields = setDefined({ operation }, errno === undefined ? {} : errnoFields(errno));
    const cause = errno === undefined ? '' : `: ${formatErrno(errno)}`;
    findings.push({ kind: 'ring.connect_error', message: `ring could not ${operation}${cause}`, fields, index: connect.index });
  }
}

/** Finds a failure reported by the jaccl (RDMA over Thunderbolt) backend, with its errno when given. */
export function matchJaccl(text: string, findings: Finding[]): void {
  const tag = JACCL_TAG.exec(text);
  if (tag === null || !JACCL_FAILURE.test(text)) return;

  // The detail is what follows the tag, such as "Recv failed with errno=2".
  const detail = text
    .slice(tag.index + tag[0].length, tag.index + tag[0].length + 200)
    .replace(/^\W{0,3}\s*/, '')
    .trim();
  const operation = jacclOperation(detail);
  const errno = readErrno(detail);
  const fields = setDefined({ detail }, { operation, ...(errno === undefined ? {} : errnoFields(errno)) });

  let message: string;
  if (errno !== undefined) {
    message = `jaccl ${operation ?? 'backend'} failure: ${formatErrno(errno)}`;
  } else {
    message = `jaccl error: ${detail}`;
  }
  findings.push({ kind: 'jaccl.error', message, fields, index: tag.index });
}

function jacclOperation(detail: string): string | undefined {
  if (/^(?:recv|receiv)/i.test(detail)) return 'receive';
  if (/^send/i.test(detail)) return 'send';
  const connect = COULD_NOT_CONNECT.exec(detail);
  if (connect !== null) return connect[1]!.toLowerCase();
  return undefined;
}

function readErrno(text: string): ReturnType<typeof lookupErrno> | undefined {
  const match = ERRNO_VALUE.exec(text);
  const value = toNumber(match?.[1] ?? match?.[2]);
  return value === undefined ? undefined : lookupErrno(value);
}

/** torch's NCCL watchdog: "[Rank 0] Watchdog caught collective operation timeout: WorkNCCL(...) ran for N milliseconds". */
const NCCL_COLLECTIVE_TIMEOUT = /watchdog caught collective operation timeout/i;
const NCCL_WATCHDOG_ABORT = /(?:NCCL|process group) watchdog thread terminated with exception\W{0,3}([^\r]{0,200})/i;
const NCCL_WATCHDOG_STUCK = /\bwatchdog got stuck\b/i;
const NCCL_RANK = /\[(?:PG [^\]]{0,80}?)?Rank (\d{1,6})\]/i;
const NCCL_OP_TYPE = /OpType=(\w{1,40})/;
const NCCL_SEQ_NUM = /SeqNum=(\d{1,20})/;
const NCCL_TIMEOUT_MS = /Timeout\(ms\)=(\d{1,15})/;
const NCCL_ELAPSED_MS = /ran for (\d{1,15}) milliseconds/;

/** Finds NCCL collective timeouts and watchdog aborts. One line may carry both. */
export function matchNccl(text: string, findings: Finding[]): void {
  const timeout = NCCL_COLLECTIVE_TIMEOUT.exec(text);
  if (timeout !== null) {
    const opType = NCCL_OP_TYPE.exec(text)?.[1];
    const timeoutMs = toNumber(NCCL_TIMEOUT_MS.exec(text)?.[1]);
    const elapsedMs = toNumber(NCCL_ELAPSED_MS.exec(text)?.[1]);
    const fields = setDefined(
      {},
      { rank: toNumber(NCCL_RANK.exec(text)?.[1]), opType, seqNum: toNumber(NCCL_SEQ_NUM.exec(text)?.[1]), timeoutMs, elapsedMs },
    );
    const ran = elapsedMs === undefined ? 'timed out' : `ran for ${elapsedMs} ms`;
    const limit = timeoutMs === undefined ? '' : ` (timeout ${timeoutMs} ms)`;
    findings.push({ kind: 'nccl.timeout', message: `NCCL collective timeout: ${opType ?? 'a collective'} ${ran}${limit}`, fields, index: timeout.index });
  }

  const abort = NCCL_WATCHDOG_ABORT.exec(text);
  const stuck = abort === null && /NCCL/.test(text) ? NCCL_WATCHDOG_STUCK.exec(text) : null;
  if (abort !== null || stuck !== null) {
    const reason = abort !== null ? abort[1]!.trim() : 'watchdog got stuck';
    const fields = setDefined({}, { rank: toNumber(NCCL_RANK.exec(text)?.[1]), reason });
    const message = reason === '' ? 'NCCL watchdog abort' : `NCCL watchdog abort: ${reason}`;
    findings.push({ kind: 'nccl.watchdog_abort', message, fields, index: (abort ?? stuck)!.index });
  }
}
