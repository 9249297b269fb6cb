// A test runner that floods stderr: FLOOD_BYTES bytes of numbered lines in 64 KiB writes, then exit code 1.
import fs from 'node:fs';

const total = Number(process.env.FLOOD_BYTES ?? 16 * 1024 * 1024);
let line = 0;
let written = 0;
while (written < total) {
  let block = '';
  while (block.length < 64 * 1024 && written + block.length < total) {
    block += `flood line ${line} of a runner that writes far too much to stderr\n`;
    line += 1;
  }
  fs.writeSync(2, block);
  written += block.length;
}
process.exit(1);
