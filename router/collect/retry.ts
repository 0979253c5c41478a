/**
 * Retry schedule of a model data file write (pure): exponential backoff with jitter, bounded in
 * attempts and delay, so a failing store costs a known amount of work per batch.
 */

export interface RetryPolicy {
    /** Retries after the first attempt. */
    readonly maxRetries: number;
    /** Delay before the first retry, ms; doubles per retry. */
    readonly baseMs: number;
    /** Longest delay, ms. */
    readonly maxMs: number;
}

/**
 * Delay before retry number `retry` (0 = the first), or undefined when no retry is left.
 * Jitter: between half and all of the exponential delay, so routers that failed together do
 * not retry together. `random` returns [0, 1).
 */
export function retryDelay(
    policy: RetryPolicy,
    retry: number,
    random: () => number = Math.random,
): number | undefined {
    if (retry >= policy.maxRetries) return undefined;
    const full = Math.min(policy.maxMs, policy.baseMs * 2 ** retry);
    return Math.round(full * (0.5 + random() / 2));
}
