import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';

import { errorCode } from '../src/errors.js';
import { outboxDir } from '../src/telemetry/outbox/layout.js';
import { openOutboxReader, Outbox } from '../src/telemetry/outbox/outbox.js';
import { entryFileName, reportIdFor, reportIdFromEntryFileName } from '../src/telemetry/outbox/report-id.js';
import { pruneRunnerLogs } from '../src/telemetry/outbox/retention.js';
import { readLastRunStats, writeRunStats, type RunStats } from '../src/telemetry/outbox/run-stats.js';
import type { Submission } from '../src/telemetry/submission.js';
import { captureLogger } from './helpers/capture-logger.js';
import { makeTempDir } from './helpers/temp-dir.js';

const DAY_MS = 24 * 60 * 60 * 1000;

function submissionFor(logDir: string, id: string): Submission {
  const [instanceId, runnerId] = id.split('/');
  return {
    kind: 'runner-stderr',
    logPath: path.join(logDir, 'runner_log', ...id.split('/')),
    instanceId,
    runnerId,
    exitCode: 1,
    signal: null,
    diagnosticKinds: ['python.exception'],
    primaryCause: 'exit code 1: Python ValueError',
    endedAtMs: 1_780_000_000_000,
  };
}

function idAt(index: number): string {
  return `llama-8b/r0/2026-05-28_14-03-${String(index).padStart(2, '0')}_000000Z.stderr.log`;
}

describe('reportIdFor', () => {
  const logDir = '/var/exo/log';

  it('derives the id from the runner log path', () => {
    const id = reportIdFor(logDir, '/var/exo/log/runner_log/llama-8b/r0/2026-05-28_14-03-07_123456Z.stderr.log');
    expect(id).to.equal('llama-8b/r0/2026-05-28_14-03-07_123456Z.stderr.log');
  });

  it('rejects paths outside the layout', () => {
    const paths = [
      'relative/runner_log/a/b/c.stderr.log',
      '/var/exo/log/runner_log/a/../b/c.stderr.log',
      '/var/exo/log/runner_log/../secrets/b/c.stderr.log',
      '/etc/passwd',
      '/var/exo/log/runner_log/a/b.stderr.log',
      '/var/exo/log/runner_log/a/b/c/d.stderr.log',
      '/var/exo/log/runner_log/a/b/notes.txt',
      '/var/exo/log/runner_log/.hidden/b/c.stderr.log',
      '/var/exo/log/runner_log/a/b/c+d.stderr.log',
    ];
    for (const logPath of paths) {
      let code: string | undefined;
      try {
        reportIdFor(logDir, logPath);
      } catch (error) {
        code = errorCode(error);
      }
      expect(code, logPath).to.equal('ERR_UNSAFE_LOG_PATH');
    }
  });

  it('maps ids to file names and back', () => {
    const id = idAt(7);
    expect(entryFileName(id)).to.equal('llama-8b+r0+2026-05-28_14-03-07_000000Z.stderr.log.json');
    expect(reportIdFromEntryFileName(entryFileName(id))).to.equal(id);
    expect(reportIdFromEntryFileName('notes.json')).to.equal(undefined);
  });
});

describe('Outbox', () => {
  let logDir: string;
  let remove: () => Promise<void>;

  beforeEach(async () => {
    ({ dir: logDir, remove } = await makeTempDir('exo-outbox-'));
  });

  afterEach(async () => {
    await remove();
  });

  it('records a pending entry durably', async () => {
    const { logger } = captureLogger();
    const outbox = await Outbox.open(logDir, logger);
    const { entry, created } = await outbox.add(idAt(1), submissionFor(logDir, idAt(1)));

    expect(created).to.equal(true);
    expect(entry.state).to.equal('pending');
    const stored = JSON.parse(await fs.readFile(path.join(outboxDir(logDir), entryFileName(idAt(1))), 'utf8'));
    expect(stored.id).to.equal(idAt(1));
    expect(stored.state).to.equal('pending');
    expect(stored.report).to.deep.include({ instanceId: 'llama-8b', runnerId: 'r0', exitCode: 1, primaryCause: 'exit code 1: Python ValueError' });
    expect(stored.report.diagnosticKinds).to.deep.equal(['python.exception']);
  });

  it('returns the existing entry on add', async () => {
    const { logger } = captureLogger();
    const outbox = await Outbox.open(logDir, logger);
    await outbox.add(idAt(1), submissionFor(logDir, idAt(1)));
    await outbox.update(idAt(1), { state: 'delivered', key: 'runner_log/ab/ab.stderr.log' });

    const again = await outbox.add(idAt(1), submissionFor(logDir, idAt(1)));
    expect(again.created).to.equal(false);
    expect(again.entry.state).to.equal('delivered');
    expect(again.entry.key).to.equal('runner_log/ab/ab.stderr.log');
  });

  it('keeps delivered entries delivered', async () => {
    const { logger } = captureLogger();
    const outbox = await Outbox.open(logDir, logger);
    await outbox.add(idAt(1), submissionFor(logDir, idAt(1)));
    await outbox.update(idAt(1), { state: 'delivered' });

    const updated = await outbox.update(idAt(1), { state: 'pending', attempts: 3 });
    expect(updated?.state).to.equal('delivered');
    expect(updated?.attempts).to.equal(3);
    expect((await outbox.reopen(idAt(1)))?.state).to.equal('delivered');
  });

  it('reopens a dry-run entry', async () => {
    const { logger } = captureLogger();
    const outbox = await Outbox.open(logDir, logger);
    await outbox.add(idAt(1), submissionFor(logDir, idAt(1)), 'dry-run');

    expect((await outbox.reopen(idAt(1)))?.state).to.equal('pending');
    expect(outbox.pending().map((entry) => entry.id)).to.deep.equal([idAt(1)]);
  });

  it('loads entries after a restart', async () => {
    const { logger } = captureLogger();
    const first = await Outbox.open(logDir, logger);
    await first.add(idAt(1), submissionFor(logDir, idAt(1)));
    await first.add(idAt(2), submissionFor(logDir, idAt(2)));
    await first.update(idAt(2), { state: 'rejected', reason: 'HTTP 400' });

    const second = await Outbox.open(logDir, logger);
    expect(second.list().map((entry) => [entry.id, entry.state])).to.deep.equal([
      [idAt(1), 'pending'],
      [idAt(2), 'rejected'],
    ]);
    expect(second.pending().map((entry) => entry.id)).to.deep.equal([idAt(1)]);
    expect(await openOutboxReader(logDir).read(idAt(2))).to.deep.include({ state: 'rejected', reason: 'HTTP 400' });
  });

  it('evicts the oldest past the limit', async () => {
    const { logger, entries } = captureLogger();
    const outbox = await Outbox.open(logDir, logger, { maxEntries: 3 });
    for (const index of [1, 2, 3]) await outbox.add(idAt(index), submissionFor(logDir, idAt(index)));
    await outbox.update(idAt(1), { state: 'delivered' });

    await outbox.add(idAt(4), submissionFor(logDir, idAt(4)));
    await outbox.add(idAt(5), submissionFor(logDir, idAt(5)));

    expect(outbox.list().map((entry) => entry.id)).to.deep.equal([idAt(3), idAt(4), idAt(5)]);
    expect(await fs.readdir(outboxDir(logDir))).to.have.lengthOf(3);
    const removed = entries.find((entry) => entry.message === 'telemetry outbox removed a report');
    expect(removed?.level).to.equal('debug');
    expect(removed?.meta.reportId).to.equal(idAt(1));
    const dropped = entries.find((entry) => entry.message === 'telemetry outbox dropped a pending report');
    expect(dropped?.level).to.equal('warn');
    expect(dropped?.meta.reportId).to.equal(idAt(2));
  });

  it('evicts entries past the age limit', async () => {
    const { logger, entries } = captureLogger();
    let nowMs = 1_780_000_000_000;
    const outbox = await Outbox.open(logDir, logger, { maxAgeMs: 30 * DAY_MS }, () => nowMs);
    await outbox.add(idAt(1), submissionFor(logDir, idAt(1)));
    nowMs += 20 * DAY_MS;
    await outbox.add(idAt(2), submissionFor(logDir, idAt(2)));
    nowMs += 11 * DAY_MS;

    const reopened = await Outbox.open(logDir, logger, { maxAgeMs: 30 * DAY_MS }, () => nowMs);
    expect(reopened.list().map((entry) => entry.id)).to.deep.equal([idAt(2)]);
    const dropped = entries.find((entry) => entry.message === 'telemetry outbox dropped a pending report');
    expect(dropped?.meta).to.deep.include({ reportId: idAt(1), reason: 'older than the outbox age limit' });
  });

  it('ignores an unreadable entry file', async () => {
    const { logger, entries } = captureLogger();
    await fs.mkdir(outboxDir(logDir), { recursive: true });
    await fs.writeFile(path.join(outboxDir(logDir), entryFileName(idAt(1))), '{"id": ');

    const outbox = await Outbox.open(logDir, logger);
    expect(outbox.list()).to.deep.equal([]);
    expect(entries.some((entry) => entry.level === 'warn' && entry.message === 'telemetry outbox entry unreadable, ignored')).to.equal(true);
  });

  it('removes temp files of dead writers', async () => {
    const { logger } = captureLogger();
    await fs.mkdir(outboxDir(logDir), { recursive: true });
    const deadPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const stale = path.join(outboxDir(logDir), `.${deadPid}-abc-${entryFileName(idAt(1))}.tmp`);
    const live = path.join(outboxDir(logDir), `.${process.pid}-def-${entryFileName(idAt(2))}.tmp`);
    await fs.writeFile(stale, '{}');
    await fs.writeFile(live, '{}');

    await Outbox.open(logDir, logger);
    expect(await fs.readdir(outboxDir(logDir))).to.deep.equal([path.basename(live)]);
  });
});

describe('run stats', () => {
  it('round-trips the last run', async () => {
    const { dir, remove } = await makeTempDir('exo-run-stats-');
    try {
      expect(await readLastRunStats(dir)).to.equal(undefined);
      const stats: RunStats = {
        mode: 'upload',
        startedAtMs: 1,
        writtenAtMs: 2,
        received: 3,
        sent: 2,
        dropped: 1,
        failed: 4,
        retried: 3,
        rejected: 0,
        bytesSent: 1234,
        pending: 1,
      };
      await writeRunStats(dir, stats);
      expect(await readLastRunStats(dir)).to.deep.equal(stats);
    } finally {
      await remove();
    }
  });
});

describe('pruneRunnerLogs', () => {
  let logDir: string;
  let remove: () => Promise<void>;
  let folder: string;

  beforeEach(async () => {
    ({ dir: logDir, remove } = await makeTempDir('exo-prune-'));
    folder = path.join(logDir, 'runner_log', 'llama-8b', 'r0');
    await fs.mkdir(folder, { recursive: true });
    for (let index = 1; index <= 6; index += 1) await fs.writeFile(path.join(logDir, 'runner_log', ...idAt(index).split('/')), `log ${index}\n`);
    await fs.writeFile(path.join(folder, 'notes.txt'), 'kept');
  });

  afterEach(async () => {
    await remove();
  });

  it('keeps the newest logs', async () => {
    const { logger } = captureLogger();
    const outbox = await Outbox.open(logDir, logger);
    for (let index = 1; index <= 6; index += 1) {
      await outbox.add(idAt(index), submissionFor(logDir, idAt(index)));
      await outbox.update(idAt(index), { state: 'delivered' });
    }

    const result = await pruneRunnerLogs(logDir, 'llama-8b', 'r0', 2, outbox);
    expect(result.deleted.map((file) => path.basename(file)).sort()).to.deep.equal([1, 2, 3, 4].map((index) => path.basename(idAt(index))));
    expect((await fs.readdir(folder)).sort()).to.deep.equal(['notes.txt', path.basename(idAt(5)), path.basename(idAt(6))].sort());
  });

  it('never deletes a pending report', async () => {
    const { logger } = captureLogger();
    const outbox = await Outbox.open(logDir, logger);
    for (let index = 1; index <= 6; index += 1) {
      await outbox.add(idAt(index), submissionFor(logDir, idAt(index)));
      if (index !== 2) await outbox.update(idAt(index), { state: 'delivered' });
    }

    const result = await pruneRunnerLogs(logDir, 'llama-8b', 'r0', 2, outbox);
    expect(result.keptForTelemetry.map((file) => path.basename(file))).to.deep.equal([path.basename(idAt(2))]);
    expect(await fs.readdir(folder)).to.include(path.basename(idAt(2)));
  });

  it('keeps logs without entry under telemetry', async () => {
    const { logger } = captureLogger();
    const outbox = await Outbox.open(logDir, logger);

    const kept = await pruneRunnerLogs(logDir, 'llama-8b', 'r0', 2, outbox);
    expect(kept.deleted).to.deep.equal([]);
    expect(kept.keptForTelemetry).to.have.lengthOf(4);

    const pruned = await pruneRunnerLogs(logDir, 'llama-8b', 'r0', 2, outbox, { telemetry: false });
    expect(pruned.deleted).to.have.lengthOf(4);
  });

  it('rejects a keep count below one', async () => {
    let code: string | undefined;
    try {
      await pruneRunnerLogs(logDir, 'llama-8b', 'r0', 0, openOutboxReader(logDir));
    } catch (error) {
      code = errorCode(error);
    }
    expect(code).to.equal('ERR_INVALID_RUNNER_LOG_KEEP');
  });
});
