/**
 * Header rules of the proxy (pure). What goes to the model server: the caller's headers minus
 * hop-by-hop ones (RFC 9110 §7.6.1), minus `Authorization` (the caller's key or token is for the
 * router, never for the model: R5), plus the request id and X-Forwarded-*.
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

/** Hop-by-hop headers (RFC 9110 §7.6.1 and the legacy ones proxies drop). Lower case. */
const HOP_BY_HOP_HEADERS = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/** Hop-by-hop headers plus the ones the proxy sets itself (never forward the caller's key). */
const DROPPED_REQUEST_HEADERS = new Set([
    ...HOP_BY_HOP_HEADERS,
    "host",
    "expect",
    "authorization",
    "x-request-id",
    "x-ms-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
]);

/** Hop-by-hop headers plus the request ids the router sets on the response itself. */
const DROPPED_RESPONSE_HEADERS = new Set([
    ...HOP_BY_HOP_HEADERS,
    "x-request-id",
    "x-ms-request-id",
]);

/** The AML inference server caps `x-request-id` at 100 characters (aml-v1-spec §5). */
export const MAX_REQUEST_ID_LENGTH = 100;
const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,100}$/;

/**
 * The caller's request id (`x-request-id`, else the deprecated `x-ms-request-id`) when it is 1–100
 * visible ASCII characters; otherwise a new UUID. Returned on the response and sent to the replica.
 */
export function requestIdFrom(headers: IncomingHttpHeaders): string {
    const given = headers["x-request-id"] ?? headers["x-ms-request-id"];
    if (typeof given === "string" && REQUEST_ID_PATTERN.test(given)) return given;
    return randomUUID();
}

/** Names listed in a `Connection` header are hop-by-hop too. */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
    if (value === undefined) return undefined;
    const text = Array.isArray(value) ? value.join(",") : value;
    const out = new Set<string>();
    for (const t of text.split(",")) {
        const name = t.trim().toLowerCase();
        if (name) out.add(name);
    }
    return out.size > 0 ? out : undefined;
}

export interface ForwardContext {
    readonly requestId: string;
    /** Address of the caller, appended to X-Forwarded-For. */
    readonly clientIp: string | undefined;
    readonly proto: "http" | "https";
}

/** Headers for the request to the replica. */
export function upstreamRequestHeaders(
    headers: IncomingHttpHeaders,
    ctx: ForwardContext,
): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    const extra = connectionTokens(headers.connection);
    for (const name in headers) {
        if (DROPPED_REQUEST_HEADERS.has(name) || (extra !== undefined && extra.has(name))) continue;
        const value = headers[name];
        if (value !== undefined) out[name] = value;
    }
    out["x-request-id"] = ctx.requestId;
    out["x-ms-request-id"] = ctx.requestId;
    const prior = headers["x-forwarded-for"];
    const priorText = Array.isArray(prior) ? prior.join(", ") : prior;
    if (ctx.clientIp) {
        out["x-forwarded-for"] = priorText ? `${priorText}, ${ctx.clientIp}` : ctx.clientIp;
    } else if (priorText) {
        out["x-forwarded-for"] = priorText;
    }
    out["x-forwarded-proto"] = ctx.proto;
    if (headers.host) out["x-forwarded-host"] = headers.host;
    return out;
}

/**
 * Response headers from the replica as a flat raw list (keeps case and repeated headers such as
 * Set-Cookie), minus hop-by-hop ones, plus the request id. `x-ms-run-fn-exec-ms` and
 * `x-ms-run-function-failed` pass through untouched.
 */
export function downstreamResponseHeaders(
    rawHeaders: readonly string[],
    requestId: string,
): string[] {
    const out: string[] = [];
    let extra: Set<string> | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
        if (rawHeaders[i].length === 10 && rawHeaders[i].toLowerCase() === "connection") {
            extra = connectionTokens(rawHeaders[i + 1]);
        }
    }
    for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = rawHeaders[i];
        const lower = name.toLowerCase();
        if (DROPPED_RESPONSE_HEADERS.has(lower) || (extra !== undefined && extra.has(lower)))
            continue;
        out.push(name, rawHeaders[i + 1]);
    }
    out.push("x-request-id", requestId, "x-ms-request-id", requestId);
    return out;
}
