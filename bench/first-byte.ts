/** Child of bench/ziti-throughput: from process start to the first echoed byte over a fresh dial. */
import { ZitiContext } from '../connector/ziti/index.js';

const [identityPath, service] = process.argv.slice(2);
const t0 = performance.now();
const ziti = await ZitiContext.fromFile(identityPath!);
await ziti.authenticate();
const tAuth = performance.now();
const conn = await ziti.dial(service!);
const tDial = performance.now();
conn.write('x');
conn.once('data', () => {
  const tByte = performance.now();
  // Milliseconds since the process started (Node boot included), then the in-process steps.
  process.stdout.write(`${JSON.stringify({ sinceProcessStartMs: process.uptime() * 1000, authMs: tAuth - t0, dialMs: tDial - tAuth, firstByteMs: tByte - tDial })}\n`);
  conn.destroy();
  void ziti.close().then(() => process.exit(0));
});
