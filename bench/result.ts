/** Machine-readable bench results: each bench program writes its figures as JSON to `BENCH_RESULT_FILE` when set (bench/run reads them). */
import { readFileSync, writeFileSync } from 'node:fs';

/** Write `figures` as JSON to `$BENCH_RESULT_FILE`; a no-op when it is unset. */
export function emitResult(bench: string, figures: Record<string, unknown>): void {
  const file = process.env['BENCH_RESULT_FILE'];
  if (file === undefined || file === '') return;
  writeFileSync(file, `${JSON.stringify({ bench, ...figures }, null, 2)}\n`);
}

/** Peak resident set size of a live process, in MiB (`VmHWM` from /proc), or undefined when unreadable. */
export function peakRssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}
