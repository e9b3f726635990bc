/** A small JSON-over-HTTPS client for the controller's REST API, with mutual TLS and coded errors. */
import assert from 'node:assert/strict';
import https from 'node:https';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { ZitiError } from '../../core/index.js';

/** Default time a controller request may take before it is abandoned, in milliseconds. */
export const DEFAULT_REST_TIMEOUT_MS = 15_000;

/** Largest response body accepted from a controller, in bytes. */
export const MAX_REST_RESPONSE_BYTES = 16 * 1024 * 1024;

/** TLS material for one controller: who we trust and, for mTLS, who we are. */
export interface RestTls {
  /** PEM bundle of trusted CAs; omit only together with `pinnedSha256`. */
  readonly ca?: string;
  /** Client certificate chain (PEM) presented on every request. */
  readonly cert?: string;
  /** Private key (PEM) of `cert`. */
  readonly key?: string;
  /**
   * Accept exactly the server leaf with this SHA-256 fingerprint (hex), without CA validation. The
   * pin is checked on the response, so such a client may only send bodiless, credential-free requests.
   */
  readonly pinnedSha256?: string;
}

/** One REST request. */
export interface RestRequest {
  readonly method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  readonly timeoutMs?: number;
}

/** A parsed response; `json` is set when the body was JSON. */
export interface RestResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  readonly json: unknown;
}

/** The controller's error envelope, when it sent one. */
export interface ControllerApiError {
  readonly code?: string;
  readonly message?: string;
}

/** Extract `{error:{code,message}}` from a response, if present. */
export function apiErrorOf(res: RestResponse): ControllerApiError | undefined {
  const err = (res.json as { error?: ControllerApiError } | undefined)?.error;
  return err !== null && typeof err === 'object' ? err : undefined;
}

/**
 * A keep-alive HTTPS agent bound to one set of TLS material. Reusing it keeps the TLS session
 * (and therefore the certificate binding the controller recorded) across requests.
 */
export class RestClient {
  readonly #agent: https.Agent;
  readonly #tls: RestTls;
  /** Made on first request, then shared by every socket; null when Node refused the material (see #secureContext). */
  #context: SecureContext | null | undefined;

  constructor(tls: RestTls) {
    this.#tls = tls;
    this.#agent = new https.Agent({
      keepAlive: true,
      maxSockets: 8,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: tls.pinnedSha256 === undefined,
    });
  }

  /**
   * One TLS context for all of this client's sockets: a send opens two or three to the controller at once
   * (authenticate, then the edge routers and a session in parallel), and each context of its own parses the key
   * and builds a CA store again, ~1-2 ms apiece. Material Node refuses gives no shared context: each socket
   * then makes its own from the agent's options and fails there, with the error it always had.
   */
  #secureContext(): SecureContext | undefined {
    if (this.#context === undefined) {
      try {
        this.#context = createSecureContext({ ca: this.#tls.ca, cert: this.#tls.cert, key: this.#tls.key });
      } catch {
        this.#context = null;
      }
    }
    return this.#context ?? undefined;
  }

  /**
   * Send one request and read the whole response.
   * @throws ERR_ZITI_CONTROLLER_UNAVAILABLE when the controller cannot be reached, the TLS handshake
   *   fails, or the request times out; ERR_ZITI_CONTROLLER_ERROR when a pinned certificate differs.
   */
  request(req: RestRequest): Promise<RestResponse> {
    // A pinned leaf is checked when the response arrives, after the request was written: pinned
    // requests are for public bootstrap data only (the CA bundle), never a body or credentials.
    assert(
      this.#tls.pinnedSha256 === undefined ||
        (req.body === undefined && !Object.keys(req.headers ?? {}).some((h) => /^(zt-session|authorization|cookie)$/i.test(h))),
      'a pinned request must carry no body and no credentials',
    );
    const timeoutMs = req.timeoutMs ?? DEFAULT_REST_TIMEOUT_MS;
    const where = `${req.method} ${req.url.origin}${req.url.pathname}`;
    return new Promise<RestResponse>((resolve, reject) => {
      const headers: Record<string, string> = { ...req.headers };
      if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
      const secureContext = this.#secureContext();
      const options: https.RequestOptions = { method: req.method, headers, agent: this.#agent, timeout: timeoutMs, ...(secureContext === undefined ? {} : { secureContext }) };
      const r = https.request(req.url, options, (res) => {
        const pin = this.#tls.pinnedSha256;
        if (pin !== undefined) {
          const peer = (res.socket as TLSSocket).getPeerX509Certificate();
          const seen = peer?.fingerprint256.replaceAll(':', '').toLowerCase();
          if (seen !== pin.toLowerCase()) {
            res.destroy();
            reject(new ZitiError('ERR_ZITI_CONTROLLER_ERROR', `${where}: controller certificate does not match the pinned one`));
            return;
          }
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_REST_RESPONSE_BYTES) {
            res.destroy(new ZitiError('ERR_ZITI_CONTROLLER_ERROR', `${where}: response larger than ${MAX_REST_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => reject(wrapNetworkError(where, err)));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          let json: unknown;
          if (/\bjson\b/i.test(String(res.headers['content-type'] ?? '')) && body.length > 0) {
            try {
              json = JSON.parse(body.toString('utf8'));
            } catch (cause) {
              reject(new ZitiError('ERR_ZITI_CONTROLLER_ERROR', `${where}: invalid JSON in response`, { cause }));
              return;
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      });
      r.on('timeout', () => r.destroy(new ZitiError('ERR_ZITI_CONTROLLER_UNAVAILABLE', `${where}: no answer within ${timeoutMs} ms`)));
      r.on('error', (err) => reject(wrapNetworkError(where, err)));
      r.end(req.body);
    });
  }

  /** Close idle keep-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }
}

function wrapNetworkError(where: string, err: Error): ZitiError {
  if (err instanceof ZitiError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
  return new ZitiError('ERR_ZITI_CONTROLLER_UNAVAILABLE', `${where}: ${code}: ${err.message}`, { cause: err });
}
