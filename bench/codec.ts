/** Channel codec throughput: encode and decode Data frames with 64 B and 64 KiB bodies. Prints figures only. */
import { performance } from 'node:perf_hooks';
import { encodeMessage, FrameDecoder } from '../connector/ziti/codec.js';
import { ContentType, EdgeFlag, HeaderId } from '../connector/ziti/constants.js';
import { createMessage, setHeaderU32 } from '../connector/ziti/message.js';

/** Wall-clock time each measurement runs for, in milliseconds. */
const MEASURE_MS = 1000;
/** Size of the chunks the decoder is fed, in bytes (a typical TLS socket read). */
const CHUNK_BYTES = 64 * 1024;

function dataMessage(bodyBytes: number, seq: number) {
  const msg = createMessage(ContentType.Data, Buffer.alloc(bodyBytes, 0x61));
  setHeaderU32(msg, HeaderId.ConnId, 7);
  setHeaderU32(msg, HeaderId.Seq, seq);
  setHeaderU32(msg, HeaderId.Flags, EdgeFlag.MULTIPART);
  msg.sequence = seq;
  return msg;
}

/** Runs `fn` (which handles `perCall` messages of `bytesPerCall` bytes) for MEASURE_MS; returns rates. */
function measure(fn: () => void, perCall: number, bytesPerCall: number) {
  for (let i = 0; i < 50; i++) fn(); // warm-up
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < MEASURE_MS) {
    fn();
    calls++;
    elapsed = performance.now() - start;
  }
  const seconds = elapsed / 1000;
  return { msgsPerSec: (calls * perCall) / seconds, mbPerSec: (calls * bytesPerCall) / seconds / 1e6 };
}

function row(label: string, r: { msgsPerSec: number; mbPerSec: number }): string {
  return `${label.padEnd(34)} ${r.mbPerSec.toFixed(1).padStart(9)} MB/s ${Math.round(r.msgsPerSec).toLocaleString('en').padStart(13)} msg/s\n`;
}

const out: string[] = [`channel codec, node ${process.version}, ${MEASURE_MS} ms per figure\n`];
for (const bodyBytes of [64, 64 * 1024]) {
  const batch = bodyBytes === 64 ? 1000 : 16;
  const msgs = Array.from({ length: batch }, (_, i) => dataMessage(bodyBytes, i + 1));
  const frames = msgs.map((m) => encodeMessage(m));
  const stream = Buffer.concat(frames);
  const label = bodyBytes === 64 ? '64 B' : '64 KiB';

  out.push(
    row(`encode ${label}`, measure(() => {
      for (const m of msgs) encodeMessage(m);
    }, batch, stream.length)),
  );

  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += CHUNK_BYTES) chunks.push(stream.subarray(i, i + CHUNK_BYTES));
  out.push(
    row(`decode ${label} (64 KiB chunks)`, measure(() => {
      const decoder = new FrameDecoder();
      for (const c of chunks) decoder.push(c);
    }, batch, stream.length)),
  );

  const small: Buffer[] = [];
  for (let i = 0; i < stream.length; i += 1000) small.push(stream.subarray(i, i + 1000));
  out.push(
    row(`decode ${label} (1000 B chunks)`, measure(() => {
      const decoder = new FrameDecoder();
      for (const c of small) decoder.push(c);
    }, batch, stream.length)),
  );
}
process.stdout.write(out.join(''));
