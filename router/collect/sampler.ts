/**
 * Sampling decision (pure): a request is collected when a hash of its request id falls below the
 * rate. Deterministic, so every router pod decides the same for one id, a client that resends a
 * request with the same `x-ms-request-id` gets the same decision, and tests can predict it.
 * Router-generated ids are random, so ordinary traffic is sampled uniformly.
 */

/** FNV-1a (32 bit) of the string's UTF-16 code units, as a fraction in [0, 1). */
export function sampleFraction(requestId: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < requestId.length; i++) {
        h ^= requestId.charCodeAt(i);
        h = Math.imul(h, 0x01000193);
    }
    // FNV's low bits mix poorly for short keys that differ in their last character: finish with
    // murmur3's avalanche step.
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return (h >>> 0) / 0x1_0000_0000;
}

/** True when the request is in the sample; rate 1 takes all, 0 none. */
export function isSampled(requestId: string, rate: number): boolean {
    if (rate >= 1) return true;
    if (!(rate > 0)) return false;
    return sampleFraction(requestId) < rate;
}
