/** TLS naming helpers shared by the controller and router clients. */

/** SNI must be a host name, never an IP literal: undefined for IPv4/IPv6 addresses. */
export function tlsServername(host: string): string | undefined {
  return /^[\d.]+$|:/.test(host) ? undefined : host;
}
