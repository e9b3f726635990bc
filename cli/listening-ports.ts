/** Which TCP sockets a process listens on, and on which address, read from /proc (Linux); undefined elsewhere. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** One listening TCP socket. */
export interface ListeningSocket {
  /** The local address in text form (`127.0.0.1`, `::1`, `0.0.0.0`, `::`). */
  readonly address: string;
  readonly port: number;
}

function socketInodes(pid: number): Set<string> | undefined {
  try {
    return new Set(
      readdirSync(`/proc/${pid}/fd`)
        .map((fd) => {
          try {
            return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
          } catch {
            return undefined;
          }
        })
        .filter((i): i is string => i !== undefined),
    );
  } catch {
    return undefined;
  }
}

/** /proc/net/tcp holds IPv4 addresses as one little-endian 32-bit hex word. */
function ipv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
}

/** /proc/net/tcp6 holds IPv6 addresses as four little-endian 32-bit hex words. */
function ipv6(hex: string): string {
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(Number.parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes.slice(12).join('.')}`;
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** Listening TCP sockets owned by process `pid` (IPv4 and IPv6), or undefined when /proc is not available. */
export function listeningSockets(pid: number = process.pid): ListeningSocket[] | undefined {
  const inodes = socketInodes(pid);
  if (inodes === undefined) return undefined;
  const found: ListeningSocket[] = [];
  for (const table of ['tcp', 'tcp6'] as const) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl local_address rem_address st ... inode (index 9); state 0A = LISTEN
      if (cols.length <= 9 || cols[3] !== '0A' || !inodes.has(cols[9]!)) continue;
      const [addr, port] = cols[1]!.split(':') as [string, string];
      found.push({ address: table === 'tcp' ? ipv4(addr) : ipv6(addr), port: Number.parseInt(port, 16) });
    }
  }
  return found.sort((a, b) => a.port - b.port);
}

/** Whether a listening address is reachable only from this host. */
export function isLoopbackAddress(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** Listening TCP ports owned by process `pid`, or undefined when /proc is not available. */
export function listeningTcpPorts(pid: number = process.pid): number[] | undefined {
  const sockets = listeningSockets(pid);
  return sockets === undefined ? undefined : [...new Set(sockets.map((s) => s.port))].sort((a, b) => a - b);
}
