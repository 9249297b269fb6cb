import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

import { expect } from 'chai';

import { REDACTION_KINDS, replacementFor, type RedactionKind } from '../src/telemetry/redact/kinds.js';
import { localRedactOptions, type RedactOptions } from '../src/telemetry/redact/options.js';
import { redactText } from '../src/telemetry/redact/redactor.js';
import { fixturesDir, repoRoot } from './helpers/paths.js';

interface CorpusEntry {
  line: string;
  /** Substrings that must be gone from the output. */
  secrets: string[];
  counts: Record<string, number>;
  note?: string;
}

interface Corpus {
  options: RedactOptions;
  redacted: CorpusEntry[];
  /** Lines that contain no secret and must come out byte for byte. */
  unchanged: string[];
}

const corpus = JSON.parse(
  await readFile(path.join(repoRoot, 'test', 'fixtures', 'redaction-corpus.json'), 'utf8'),
) as Corpus;

const fixtureNames = (await readdir(fixturesDir)).filter((name) => name.endsWith('.stderr.log')).sort();

function redactString(text: string, options: RedactOptions = corpus.options) {
  const { output, counts } = redactText(text, options);
  return { output: output.toString('utf8'), counts };
}

describe('redactText on the secret corpus', () => {
  corpus.redacted.forEach((entry, index) => {
    const kinds = Object.keys(entry.counts).join(', ');

    it(`removes ${kinds} from corpus line ${index + 1}`, () => {
      const { output, counts } = redactString(`${entry.line}\n`);

      for (const secret of entry.secrets) {
        expect(output, `secret ${JSON.stringify(secret)} left in the output`).not.to.include(secret);
      }
      expect(counts).to.deep.equal(entry.counts);
      for (const kind of Object.keys(entry.counts)) {
        expect(output).to.include(replacementFor(kind as RedactionKind));
      }
      expect(output.endsWith('\n')).to.equal(true);
    });
  });

  it('covers every redaction kind', () => {
    const found = new Set(corpus.redacted.flatMap((entry) => Object.keys(entry.counts)));

    expect([...REDACTION_KINDS].filter((kind) => !found.has(kind))).to.deep.equal([]);
  });

  it('keeps lines without secrets byte-identical', () => {
    for (const line of corpus.unchanged) {
      const { output, counts } = redactString(`${line}\n`);

      expect(output, line).to.equal(`${line}\n`);
      expect(counts, line).to.deep.equal({});
    }
  });

  it('keeps key names and separators readable', () => {
    expect(redactString('HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyzABCDEFGH loaded\n').output).to.equal(
      'HF_TOKEN=[REDACTED:hf_token] loaded\n',
    );
    expect(redactString('{"password": "x y z", "user": "svc"}\n').output).to.equal(
      '{"password": "[REDACTED:secret]", "user": "svc"}\n',
    );
    expect(redactString('git clone https://bob:pw@git.example.com/a.git\n').output).to.equal(
      'git clone https://[REDACTED:url_credentials]@git.example.com/a.git\n',
    );
    expect(redactString('Authorization: Bearer abc123def456\n').output).to.equal('Authorization: Bearer [REDACTED:authorization]\n');
    expect(redactString('listening on [2001:db8::7]:8080\n').output).to.equal('listening on [REDACTED:ipv6]:8080\n');
  });

  it('turns home directories into ~', () => {
    expect(redactString('  File "/home/jdoe/exo/x.py", line 3, in f\n').output).to.equal('  File "~/exo/x.py", line 3, in f\n');
    expect(redactString('C:\\Users\\Jane Doe\\AppData\\x.py\n').output).to.equal('~\\AppData\\x.py\n');
    expect(redactString('/srv/homes/jdoe/models\n').output).to.equal('~/models\n');
  });
});

describe('redactText on runner fixtures', () => {
  for (const name of fixtureNames) {
    it(`keeps ${name} byte-identical`, async () => {
      const input = await readFile(path.join(fixturesDir, name));

      for (const options of [corpus.options, localRedactOptions()]) {
        const { output, counts } = redactText(input, options);
        expect(output.equals(input), `output differs with ${JSON.stringify(options)}`).to.equal(true);
        expect(counts).to.deep.equal({});
      }
    });

    it(`keeps ${name} lines among secrets`, async () => {
      const input = await readFile(path.join(fixturesDir, name));
      const secretLines = corpus.redacted.slice(0, 12).map((entry) => Buffer.from(`${entry.line}\n`));
      const fixtureLines = splitLines(input);
      const mixed = Buffer.concat(fixtureLines.flatMap((line, index) => [secretLines[index % secretLines.length]!, line]));

      const { output } = redactText(mixed, corpus.options);
      const outputLines = splitLines(output);

      // Each secret line stays one line, so fixture lines are every second line of the output.
      expect(outputLines.length).to.equal(fixtureLines.length * 2);
      fixtureLines.forEach((line, index) => {
        expect(outputLines[index * 2 + 1]!.equals(line), `fixture line ${index + 1}`).to.equal(true);
      });
      for (const entry of corpus.redacted.slice(0, 12)) {
        for (const secret of entry.secrets) expect(output.includes(Buffer.from(secret))).to.equal(false);
      }
    });
  }

  it('replaces the home path in import error frames', async () => {
    const input = (await readFile(path.join(fixturesDir, 'python-import-error.stderr.log'), 'utf8')).replaceAll('<user>', 'mbrown');

    const { output, counts } = redactString(input);

    expect(output).not.to.include('mbrown');
    expect(output).to.include('  File "~/exo/src/exo/worker/runner/bootstrap.py", line 75, in entrypoint\n');
    expect(output).to.include('ImportError: libmlx.so: cannot open shared object file: No such file or directory\n');
    expect(counts).to.deep.equal({ home_dir: 3 });
  });
});

describe('redactText name guards', () => {
  it('ignores short and common names', () => {
    const options = { userNames: ['root', 'li', 'exo'], hostNames: ['localhost', 'vm'], homeDirs: ['/'] };
    const line = 'root ran exo/worker/runner.py on localhost vm li /root/.cache\n';

    expect(redactString(line, options).output).to.equal(line);
  });

  it('matches names in any ASCII case', () => {
    const options = { userNames: ['jdoe'], hostNames: ['Build-Box.example.NET'] };

    expect(redactString('JDOE on build-box.EXAMPLE.net\n', options).output).to.equal('[REDACTED:user] on [REDACTED:host]\n');
  });

  it('escapes pattern characters in names', () => {
    const options = { userNames: ['a.b+c'], hostNames: [] };

    expect(redactString('by a.b+c and aXb+c and a.bbc\n', options).output).to.equal('by [REDACTED:user] and aXb+c and a.bbc\n');
  });

  it('matches whole words only', () => {
    const options = { userNames: ['jdoe'], hostNames: ['box-17'] };

    expect(redactString('jdoes jdoe_x box-170 jdoe.log box-17:8080\n', options).output).to.equal(
      'jdoes jdoe_x box-170 [REDACTED:user].log [REDACTED:host]:8080\n',
    );
  });
});

function splitLines(buffer: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let newline = buffer.indexOf(10); newline !== -1; newline = buffer.indexOf(10, start)) {
    lines.push(buffer.subarray(start, newline + 1));
    start = newline + 1;
  }
  if (start < buffer.length) lines.push(Buffer.concat([buffer.subarray(start), Buffer.from('\n')]));
  return lines;
}
