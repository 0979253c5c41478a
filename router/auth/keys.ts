/**
 * Key auth (R35/R36): the `Authorization: Bearer <key>` header of v1 clients, compared in
 * constant time against the service's primary and secondary keys. No I/O; the only state is a
 * memo of accepted credentials per key-set object (matchesServiceKey), dropped when the keys
 * change, so a rotated key takes effect on the next request.
 */
import { hash, randomBytes, timingSafeEqual } from "node:crypto";

/** Realm of every `WWW-Authenticate` challenge the router sends. */
export const AUTH_REALM = "amlaks";

/** Challenge for a request that carried no bearer credential (RFC 6750 §3). */
export const CHALLENGE_MISSING = `Bearer realm="${AUTH_REALM}"`;

/**
 * Challenge for a bearer credential that was rejected. Deliberately the same for every reason
 * (wrong key, expired token, bad signature...) so a caller learns nothing about which check failed.
 */
export const CHALLENGE_INVALID = `Bearer realm="${AUTH_REALM}", error="invalid_token"`;

/** Longest bearer credential accepted; longer values are rejected before any parsing. */
export const MAX_CREDENTIAL_LENGTH = 16_384;

/** Bytes of randomness in a generated service key (256 bits). */
export const SERVICE_KEY_BYTES = 32;

/**
 * A new random service key (R36): 32 bytes from the OS CSPRNG, base64url without padding
 * (43 characters, safe in headers, shells and YAML without quoting).
 */
export function generateServiceKey(): string {
    return randomBytes(SERVICE_KEY_BYTES).toString("base64url");
}

/**
 * Compares two strings in time independent of where they differ and of their lengths: both
 * sides are hashed with SHA-256 first, so `timingSafeEqual` always sees 32-byte inputs.
 */
export function constantTimeEqual(a: string, b: string): boolean {
    return timingSafeEqual(sha256(a), sha256(b));
}

/** One-shot `crypto.hash` (Node ≥ 20.12): half the cost of a Hash object, on every request. */
function sha256(value: string): Buffer {
    return hash("sha256", value, "buffer");
}

/** Most stored-key digests kept; past it the cache starts over (keys rotate rarely). */
const MAX_STORED_DIGESTS = 4096;
const storedDigests = new Map<string, Buffer>();

/**
 * SHA-256 of a stored key, computed once per key rather than on every request: the stored keys
 * change only when a service's keys rotate, the presented one on every request.
 */
function storedDigest(key: string): Buffer {
    let digest = storedDigests.get(key);
    if (digest === undefined) {
        if (storedDigests.size >= MAX_STORED_DIGESTS) storedDigests.clear();
        digest = sha256(key);
        storedDigests.set(key, digest);
    }
    return digest;
}

/**
 * True when `presented` equals the primary or the secondary key (R36). Both keys are always
 * compared (no short-circuit), and unset or empty keys never match. The presented key is hashed
 * once and compared in constant time with both stored keys' (cached) digests.
 */
export function matchesServiceKey(
    keys: { readonly primaryKey?: string; readonly secondaryKey?: string },
    presented: string,
): boolean {
    // A credential this very key set accepted before is accepted again without hashing. Only
    // accepted credentials are remembered (at most the two keys), so the faster answer tells a
    // caller nothing the 200 does not; every other credential takes the constant-time path.
    // A key set changed in place is checked too: its record is kept only for the same two keys.
    let known = accepted.get(keys);
    if (
        known !== undefined &&
        (known.primaryKey !== keys.primaryKey || known.secondaryKey !== keys.secondaryKey)
    ) {
        known = undefined;
        accepted.delete(keys);
    }
    if (known !== undefined && known.credentials.has(presented)) return true;
    const ok = compareServiceKey(keys, presented);
    if (ok) {
        if (known === undefined) {
            accepted.set(keys, {
                primaryKey: keys.primaryKey,
                secondaryKey: keys.secondaryKey,
                credentials: new Set([presented]),
            });
        } else known.credentials.add(presented);
    }
    return ok;
}

/** Credentials each key set accepted (see matchesServiceKey), for the keys it had then. */
const accepted = new WeakMap<
    object,
    { primaryKey?: string; secondaryKey?: string; credentials: Set<string> }
>();

function compareServiceKey(
    keys: { readonly primaryKey?: string; readonly secondaryKey?: string },
    presented: string,
): boolean {
    const digest = sha256(presented);
    const primary = keys.primaryKey ?? "";
    const secondary = keys.secondaryKey ?? "";
    const p = timingSafeEqual(storedDigest(primary), digest) && primary.length > 0;
    const s = timingSafeEqual(storedDigest(secondary), digest) && secondary.length > 0;
    return (p || s) && presented.length > 0;
}

/** Outcome of reading the `Authorization` header. */
export type BearerCredential =
    | { readonly kind: "missing" }
    | { readonly kind: "malformed" }
    | { readonly kind: "bearer"; readonly credential: string };

/**
 * Reads `Authorization: Bearer <credential>` (scheme case-insensitive, RFC 6750 §2.1). No header
 * or another scheme (`Basic ...`) is "missing" (the client did not try bearer auth); a bearer
 * header with an empty, oversized or whitespace-containing credential is "malformed".
 */
export function parseBearer(header: string | readonly string[] | undefined): BearerCredential {
    const value = Array.isArray(header) ? header[0] : header;
    if (typeof value !== "string" || value.length === 0) return { kind: "missing" };
    const match = /^([A-Za-z]+)(?: +(.*))?$/s.exec(value.trim());
    if (!match || match[1].toLowerCase() !== "bearer") return { kind: "missing" };
    const credential = match[2] ?? "";
    if (
        credential.length === 0 ||
        credential.length > MAX_CREDENTIAL_LENGTH ||
        /\s/.test(credential)
    ) {
        return { kind: "malformed" };
    }
    return { kind: "bearer", credential };
}
