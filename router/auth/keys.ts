/**
 * Key auth (R35/R36): the `Authorization: Bearer <key>` header of v1 clients, compared in
 * constant time against the service's primary and secondary keys. Pure: no I/O, no state, so a
 * rotated key (a new config object) takes effect on the next request.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

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
    const ha = createHash("sha256").update(a, "utf8").digest();
    const hb = createHash("sha256").update(b, "utf8").digest();
    return timingSafeEqual(ha, hb);
}

/**
 * True when `presented` equals the primary or the secondary key (R36). Both keys are always
 * compared (no short-circuit), and unset or empty keys never match.
 */
export function matchesServiceKey(
    keys: { readonly primaryKey?: string; readonly secondaryKey?: string },
    presented: string,
): boolean {
    let match = false;
    for (const key of [keys.primaryKey, keys.secondaryKey]) {
        const equal = constantTimeEqual(key ?? "", presented);
        match = (equal && typeof key === "string" && key.length > 0) || match;
    }
    return match && presented.length > 0;
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
