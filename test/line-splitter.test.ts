import { expect } from 'chai';

import { LineSplitter, MAX_LINE_BYTES } from '../src/supervision/line-splitter.js';

function split(chunks: Buffer[], finish = true): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  for (const chunk of chunks) splitter.push(chunk);
  if (finish) splitter.end();
  return lines;
}

describe('LineSplitter', () => {
  it('splits on newline and strips one carriage return', () => {
    expect(split([Buffer.from('a\r\nb\r\r\nc\n')])).to.deep.equal(['a', 'b\r', 'c']);
  });

  it('skips empty lines', () => {
    expect(split([Buffer.from('\n\r\none\n\n\ntwo\n')])).to.deep.equal(['one', 'two']);
  });

  it('emits a partial last line at end', () => {
    expect(split([Buffer.from('first\nlast without newline')])).to.deep.equal(['first', 'last without newline']);
  });

  it('holds a partial line until end', () => {
    expect(split([Buffer.from('first\npartial')], false)).to.deep.equal(['first']);
  });

  it('joins a line split across chunks', () => {
    expect(split([Buffer.from('Trace'), Buffer.from('back (most'), Buffer.from(' recent call last):\nnext\n')])).to.deep.equal([
      'Traceback (most recent call last):',
      'next',
    ]);
  });

  it('decodes a character split across chunks', () => {
    const bytes = Buffer.from('température: 90°C\n');
    const cut = bytes.indexOf(0xc3) + 1;
    expect(split([bytes.subarray(0, cut), bytes.subarray(cut)])).to.deep.equal(['température: 90°C']);
  });

  it('replaces invalid UTF-8 for text only', () => {
    expect(split([Buffer.from([0x61, 0xff, 0x62, 0x0a])])).to.deep.equal(['a\ufffdb']);
  });

  it('keeps head and tail of an over-long line', () => {
    const head = 'HEAD-MARK';
    const tail = 'Metal GPU timeout at the end';
    const filler = 'x'.repeat(MAX_LINE_BYTES * 3);
    const text = `${head}${filler}${tail}\nafter\n`;
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < text.length; offset += 65536) chunks.push(Buffer.from(text.slice(offset, offset + 65536)));
    const lines = split(chunks);
    expect(lines).to.have.length(2);
    expect(lines[0]!.startsWith(head)).to.equal(true);
    expect(lines[0]!.endsWith(tail)).to.equal(true);
    // The head is kept once, and the tail never grows past MAX_LINE_BYTES before it is cut again.
    expect(lines[0]!.length).to.be.below(MAX_LINE_BYTES + 64 * 1024 + 16);
    expect(lines[1]).to.equal('after');
  });
});
