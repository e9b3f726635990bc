/** The JSON body of a receiver's 2xx answer, written by the receiver and read by the sender. */

/** What a receiver answers with 200 (some ids stored) or 202 (every id was already stored). */
export interface Receipt {
  /** The request's `webhook-id`: the message id, or the batch id. */
  readonly id: string;
  /** Messages newly stored by this request. */
  readonly stored: number;
  /** Messages of this request that were stored before (a retry or a replay). */
  readonly duplicates: number;
}

/**
 * The events a darkhook receiver says it took (`stored + duplicates`), or undefined when the body is
 * not a receipt (another kind of receiver).
 */
export function acknowledgedEvents(body: Buffer): number | undefined {
  try {
    const answer = JSON.parse(body.toString('utf8')) as Partial<Record<keyof Receipt, unknown>> | null;
    const { stored, duplicates } = answer ?? {};
    return Number.isSafeInteger(stored) && Number.isSafeInteger(duplicates) ? (stored as number) + (duplicates as number) : undefined;
  } catch {
    return undefined;
  }
}
