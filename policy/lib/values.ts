/**
 * Plain-value access for policies. The engine hands policies resource properties in which values
 * not known during a preview are sentinel strings (and @pulumi/policy wraps them in a proxy that
 * throws on access). Policies here read the unwrapped values and test for those sentinels
 * themselves, so an unknown value becomes "skipped, with a reason" instead of a failure.
 */

/** Sentinels the engine uses for values unknown during preview (@pulumi/policy proxy.js). */
export const UNKNOWN_SENTINELS: ReadonlySet<string> = new Set([
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", // boolean
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421", // number
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9", // string (also the SDK's generic unknown)
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2", // array
    "030794c1-ac77-496b-92df-f27374a8bd58", // asset
    "e48ece36-62e2-4504-bad9-02848725956a", // archive
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff", // object
]);

/** Any JSON-like property value. */
export type Json = unknown;
/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** True for a value the engine does not know yet (preview). */
export function isUnknown(v: unknown): boolean {
    return typeof v === "string" && UNKNOWN_SENTINELS.has(v);
}

/** True when the value or anything inside it is unknown. */
export function containsUnknown(v: unknown): boolean {
    if (isUnknown(v)) return true;
    if (Array.isArray(v)) return v.some(containsUnknown);
    if (isObject(v)) return Object.values(v).some(containsUnknown);
    return false;
}

/** Property name @pulumi/policy's proxy answers with the object it wraps. */
const PROXY_TARGET = "__getSpecialProxyTarget";

/**
 * The object behind @pulumi/policy's unknown-checking proxy (its children are plain values), or
 * the value itself when it is not proxied.
 */
export function unproxy<T>(v: T): T {
    if (v !== null && typeof v === "object") {
        const target = (v as Record<string, unknown>)[PROXY_TARGET];
        if (target !== undefined && target !== null) return target as T;
    }
    return v;
}

export function isObject(v: unknown): v is JsonObject {
    return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Reads a dotted path; `undefined` when a step is missing. Stops at (and returns) unknowns. */
export function at(v: unknown, path: string): unknown {
    let cur: unknown = v;
    for (const key of path.split(".")) {
        if (isUnknown(cur)) return cur;
        if (Array.isArray(cur) && /^\d+$/.test(key)) cur = cur[Number(key)];
        else if (isObject(cur)) cur = cur[key];
        else return undefined;
    }
    return cur;
}

/** A string, or `undefined` for anything else (unknowns included: test them first). */
export function str(v: unknown): string | undefined {
    return typeof v === "string" && !isUnknown(v) ? v : undefined;
}

/** A finite number (numeric strings accepted, as Kubernetes quantities of whole units are). */
export function num(v: unknown): number | undefined {
    if (typeof v === "number" && Number.isFinite(v)) return v;
    if (typeof v === "string" && !isUnknown(v) && /^\s*\d+(\.\d+)?\s*$/.test(v)) return Number(v);
    return undefined;
}

/** A boolean (also `"true"`/`"false"`, as add-on configs and annotations spell them). */
export function bool(v: unknown): boolean | undefined {
    if (typeof v === "boolean") return v;
    if (v === "true" || v === "True") return true;
    if (v === "false" || v === "False") return false;
    return undefined;
}

/** The array, or `[]`; unknown arrays are the caller's to test first. */
export function arr(v: unknown): unknown[] {
    return Array.isArray(v) ? v : [];
}

/** String entries of an object (a label or tag map); unknown values are left out. */
export function stringMap(v: unknown): Record<string, string> {
    const out: Record<string, string> = {};
    if (!isObject(v)) return out;
    for (const [k, x] of Object.entries(v)) {
        const s = str(x);
        if (s !== undefined) out[k] = s;
    }
    return out;
}

/** Case-insensitive lookup of an object key (Azure spells add-on names both ways). */
export function getCaseInsensitive(v: unknown, key: string): unknown {
    if (!isObject(v)) return undefined;
    const lower = key.toLowerCase();
    for (const [k, x] of Object.entries(v)) if (k.toLowerCase() === lower) return x;
    return undefined;
}
