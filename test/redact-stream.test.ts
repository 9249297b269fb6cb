import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { expect } from 'chai';

import { errorCode } from '../src/errors.js';
import type { RedactOptions } from '../src/telemetry/redact/options.js';
import { LINE_CAP_BYTES, MAX_BUFFERED_BYTES, Redactor, WINDOW_OVERLAP_BYTES, redactText } from '../src/telemetry/redact/redactor.js';
import { fixturesDir, repoRoot } from './helpers/paths.js';

interface Corpus {
  options: RedactOptions;
  redacted: { line: string; secrets: string[] }[];
}

const corpus = JSON.parse(
  await readFile(path.join(repoRoot, 'test', 'fixtures', 'redaction-corpus.json'), 'utf8'),
) as Corpus;
const options = corpus.options;

/** Pushes `chunks` through one Redactor and returns all its output. */
function redactChunks(chunks: Buffer[], redactor = new Redactor(options)): Buffer {
  const outputs = chunks.map((chunk) => redactor.push(chunk));
  outputs.push(redactor.end());
  return Buffer.concat(outputs);
}

/** Splits `input` into chunks of `size` bytes. */
function chunksOf(input: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < input.length; offset += size) chunks.push(input.subarray(offset, offset + size));
  return chunks;
}

/** Text between secrets in long lines: words without digits, colons, `@` or dots. */
function filler(length: number): string {
  const words = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ';
  return words.repeat(Math.ceil(length / words.length)).slice(0, length);
}

/** A secret and the text that must replace it. */
const LONG_LINE_SECRETS: [string, string][] = [
  ['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', '[REDACTED:hf_token]'],
  ['jane.doe@example.com', '[REDACTED:email]'],
  ['192.0.2.15', '[REDACTED:ipv4]'],
  ['[2001:db8::1]', '[REDACTED:ipv6]'],
  ['password=Tr0ub4dor3', 'password=[REDACTED:secret]'],
  ['https://bob:pw1@git.example.com/', 'https://[REDACTED:url_credentials]@git.example.com/'],
  ['/home/jdoe/models', '~/models'],
  ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqZG9lIn0.c2lnbmF0dXJl', '[REDACTED:jwt]'],
  ['AKIAQWERTYUIOPASDFGH', '[REDACTED:aws_access_key_id]'],
];

/** Builds a line of `length` bytes or more, without newline, with a secret every `spacing` bytes. */
function longLine(length: number, spacing: number): { input: Buffer; expected: Buffer } {
  const input: string[] = [];
  const expected: string[] = [];
  let size = 0;
  for (let index = 0; size < length; index++) {
    const [secret, replacement] = LONG_LINE_SECRETS[index % LONG_LINE_SECRETS.length]!;
    const gap = ` ${filler(spacing - secret.length - 2)} `;
    input.push(gap, secret);
    expected.push(gap, replacement);
    size += gap.length + secret.length;
  }
  return { input: Buffer.from(input.join('')), expected: Buffer.from(expected.join('')) };
}

describe('Redactor chunk boundaries', () => {
  it('finds secrets split at every position', () => {
    for (const entry of corpus.redacted) {
      const input = Buffer.from(`first line\n${entry.line}\nlast line\n`);
      const whole = redactText(input, options).output;

      for (let split = 0; split <= input.length; split++) {
        const output = redactChunks([input.subarray(0, split), input.subarray(split)]);
        expect(output.equals(whole), `split at ${split} of ${JSON.stringify(entry.line)}`).to.equal(true);
      }
      for (const secret of entry.secrets) expect(whole.includes(Buffer.from(secret))).to.equal(false);
    }
  });

  it('redacts the same in one-byte chunks', () => {
    const input = Buffer.from(corpus.redacted.map((entry) => `${entry.line}\n`).join(''));

    const output = redactChunks(chunksOf(input, 1));

    expect(output.equals(redactText(input, options).output)).to.equal(true);
  });

  it('passes invalid UTF-8 bytes through', () => {
    const input = Buffer.concat([
      Buffer.from([0xff, 0xfe, 0x20]),
      Buffer.from('token=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 '),
      Buffer.from([0xc3, 0x28, 0x20, 0xe2, 0x82]),
      Buffer.from(' jane.doe@example.com\n'),
      Buffer.from([0xed, 0xa0, 0x80, 0x0a, 0x80, 0x81, 0xf8]),
    ]);
    const expected = Buffer.concat([
      Buffer.from([0xff, 0xfe, 0x20]),
      Buffer.from('token=[REDACTED:hf_token] '),
      Buffer.from([0xc3, 0x28, 0x20, 0xe2, 0x82]),
      Buffer.from(' [REDACTED:email]\n'),
      Buffer.from([0xed, 0xa0, 0x80, 0x0a, 0x80, 0x81, 0xf8]),
    ]);

    for (const size of [1, 2, 3, 7, input.length]) {
      expect(redactChunks(chunksOf(input, size)).equals(expected), `chunks of ${size}`).to.equal(true);
    }
  });

  it('keeps the invalid UTF-8 fixture intact', async () => {
    const input = await readFile(path.join(fixturesDir, 'invalid-utf8-no-newline.stderr.log'));

    for (const size of [1, 5, input.length]) {
      expect(redactChunks(chunksOf(input, size)).equals(input), `chunks of ${size}`).to.equal(true);
    }
  });

  it('matches a non-ASCII name split mid-character', () => {
    const input = Buffer.from('run by Zoë on buildbox-17\n');
    const expected = Buffer.from('run by [REDACTED:user] on [REDACTED:host]\n');
    const insideE = input.indexOf(Buffer.from('ë')) + 1;

    expect(redactChunks([input.subarray(0, insideE), input.subarray(insideE)]).equals(expected)).to.equal(true);
  });
});

describe('Redactor long lines', () => {
  it('redacts a line without newline', () => {
    const { input, expected } = longLine(300 * 1024, 331);

    for (const size of [1000, 4096, 7919, 65_536, 65_537, 100_000, input.length]) {
      const output = redactChunks(chunksOf(input, size));
      expect(output.length, `chunks of ${size}`).to.equal(expected.length);
      expect(output.equals(expected), `chunks of ${size}`).to.equal(true);
    }
  });

  it('finds a secret cut by a window', () => {
    const secret = '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';
    const start = 100_000;
    const input = Buffer.from(`${filler(start - 1)} ${secret} ${filler(100_000)}`);
    const expected = Buffer.from(`${filler(start - 1)} [REDACTED:hf_token] ${filler(100_000)}`);

    // The first window ends at the first chunk's end and writes all but its last WINDOW_OVERLAP_BYTES.
    for (let cut = start - 2; cut <= start + secret.length + 2; cut++) {
      const firstChunk = cut + WINDOW_OVERLAP_BYTES;
      const output = redactChunks([input.subarray(0, firstChunk), input.subarray(firstChunk)]);
      expect(output.equals(expected), `window cut at ${cut}`).to.equal(true);
    }
  });

  it('continues a token past the window end', () => {
    const token = `hf_${'Ab1'.repeat(5000)}`;
    const start = 70_000;
    const input = Buffer.from(`${filler(start - 1)} ${token} tail`);
    const expected = Buffer.from(`${filler(start - 1)} [REDACTED:hf_token] tail`);

    // The first window writes up to its last WINDOW_OVERLAP_BYTES, so the token starts before that and ends after the chunk.
    for (const firstChunk of [start + WINDOW_OVERLAP_BYTES + 100, start + 10_000, start + token.length - 1]) {
      const redactor = new Redactor(options);
      const output = redactChunks([input.subarray(0, firstChunk), input.subarray(firstChunk)], redactor);
      expect(output.equals(expected), `first chunk of ${firstChunk}`).to.equal(true);
      expect(redactor.counts).to.deep.equal({ hf_token: 1 });
    }
  });

  it('keeps at most its cap between pushes', () => {
    const redactor = new Redactor(options);
    const line = Buffer.from(`${filler(200_000)}\n`);
    const noNewline = Buffer.from(filler(3 * 1024 * 1024));
    let maxBuffered = 0;

    for (const input of [line, noNewline, line]) {
      for (const chunk of chunksOf(input, 50_000)) {
        redactor.push(chunk);
        maxBuffered = Math.max(maxBuffered, redactor.bufferedBytes);
      }
    }
    redactor.end();

    expect(maxBuffered).to.be.at.most(MAX_BUFFERED_BYTES);
    expect(maxBuffered).to.be.at.least(LINE_CAP_BYTES - 50_000);
  });
});

describe('Redactor private key blocks', () => {
  const body = ['MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7', 'VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDu'];
  const block = ['-----BEGIN PRIVATE KEY-----', ...body, '-----END PRIVATE KEY-----'].join('\n');

  it('replaces a block with one marker', () => {
    const { output, counts } = redactText(`before\n${block}\nafter\n`, options);

    expect(output.toString()).to.equal('before\n[REDACTED:private_key]\nafter\n');
    expect(counts).to.deep.equal({ private_key: 1 });
  });

  it('redacts an unterminated block to the end', () => {
    const redactor = new Redactor(options);
    const input = Buffer.from(`before\n-----BEGIN EC PRIVATE KEY-----\n${body.join('\n')}\nSegmentation fault: 11\n`);

    const output = redactChunks(chunksOf(input, 10), redactor);

    expect(output.toString()).to.equal('before\n[REDACTED:private_key]');
    expect(redactor.unterminatedPrivateKey).to.equal(true);
    expect(redactor.counts).to.deep.equal({ private_key: 1 });
  });

  it('finds an END marker cut by a window', () => {
    const keyBody = 'A'.repeat(150_000);
    const end = '-----END PRIVATE KEY-----';
    const input = Buffer.from(`${filler(1000)}-----BEGIN PRIVATE KEY-----${keyBody}${end} after`);
    const expected = Buffer.from(`${filler(1000)}[REDACTED:private_key] after`);
    const endStart = input.indexOf(end);

    for (let offset = -2; offset <= end.length + 2; offset++) {
      const redactor = new Redactor(options);
      const firstChunk = endStart + offset;
      const output = redactChunks([input.subarray(0, firstChunk), input.subarray(firstChunk)], redactor);
      expect(output.equals(expected), `first chunk ends ${offset} bytes into END`).to.equal(true);
      expect(redactor.unterminatedPrivateKey).to.equal(false);
    }
  });
});

describe('Redactor lifecycle', () => {
  it('rejects push after end', () => {
    const redactor = new Redactor(options);
    redactor.end();

    let caught: unknown;
    try {
      redactor.push(Buffer.from('x'));
    } catch (error) {
      caught = error;
    }
    expect(errorCode(caught)).to.equal('ERR_REDACTOR_ENDED');
  });

  it('counts across pushes', () => {
    const redactor = new Redactor(options);
    redactor.push(Buffer.from('a jane.doe@example.com\n'));
    redactor.push(Buffer.from('b ops@example.org 192.0.2.1\n'));
    redactor.end();

    expect(redactor.counts).to.deep.equal({ email: 2, ipv4: 1 });
  });
});

describe('Redactor linear time', () => {
  // Adversarial inputs for each rule. Each check redacts the same bytes twice: as one
  // long line and as many short lines. A scan that backtracks or rescans costs the
  // square of the line length, so the long line would take 16 or 32 times as long; a
  // linear scan takes about as long either way.
  const adversarial: [string, string][] = [
    ['e-mail', 'a@'],
    ['dotted numbers', '1.'],
    ['colons', ':'],
    ['hex and colons', 'f:'],
    ['brackets', '[::'],
    ['JWT starts', 'eyJ'],
    ['JWT parts', 'eyJabcd.'],
    ['quoted assignments', 'password="'],
    ['assignments', 'token='],
    ['options', '--token '],
    ['URL schemes', '://'],
    ['URL userinfo', '://a:b'],
    ['home paths', '/home/'],
    ['Windows homes', 'C:\\Users\\'],
    ['bearer', 'Bearer '],
    ['authorization', 'authorization: '],
    ['token prefixes', 'hf_sk-ghp_AKIA'],
    ['key armour', '-----BEGIN PRIVATE KEY-----'],
    ['one run', 'a'],
    ['user names', 'jdoe'],
  ];

  /** Returns `count` lines of `unit` repeated, each `lineBytes` long with its newline. */
  function lines(unit: string, lineBytes: number, count: number): Buffer {
    const line = `${unit.repeat(Math.ceil(lineBytes / unit.length)).slice(0, lineBytes - 1)}\n`;
    return Buffer.from(line.repeat(count));
  }

  function secondsFor(input: Buffer): number {
    const started = process.hrtime.bigint();
    redactText(input, options);
    return Number(process.hrtime.bigint() - started) / 1e9;
  }

  /** Returns the ratio of the best of five runs on each input, measured in turns so that both see the same load. */
  function bestTimeRatio(longLines: Buffer, shortLines: Buffer): number {
    let bestLong = Number.POSITIVE_INFINITY;
    let bestShort = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 5; run++) {
      bestShort = Math.min(bestShort, secondsFor(shortLines));
      bestLong = Math.min(bestLong, secondsFor(longLines));
    }
    return bestLong / bestShort;
  }

  for (const [name, unit] of adversarial) {
    it(`scales linearly on ${name}`, () => {
      // 32 KiB first: a quadratic scan fails here in seconds, where the 1 MiB line would take hours.
      const ratio = bestTimeRatio(lines(unit, 32 * 1024, 1), lines(unit, 2 * 1024, 16));
      expect(ratio, `one 32 KiB line took ${ratio.toFixed(1)} times as long as 16 lines of 2 KiB`).to.be.below(4);

      const megabyteRatio = bestTimeRatio(lines(unit, 1024 * 1024, 1), lines(unit, 32 * 1024, 32));
      expect(megabyteRatio, `one 1 MiB line took ${megabyteRatio.toFixed(1)} times as long as 32 lines of 32 KiB`).to.be.below(4);
    });
  }
});
