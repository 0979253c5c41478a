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

/** `Connection` values that add no header name to drop. */
const ONLY_HOP_BY_HOP = new Set(["keep-alive", "close", "upgrade"]);

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
    // Set by the router from the connection (issue 15): a client must not choose what the model
    // reads as its address. X-Forwarded-For keeps the caller's list and appends the real address.
    "x-real-ip",
    "forwarded",
]);

/**
 * Hop-by-hop headers, the request ids the router sets on the response itself, the length (the
 * router sends the answer whole with its own Content-Length) and `Server` (which model server and
 * version runs behind the router is nobody's business).
 */
const DROPPED_RESPONSE_HEADERS = new Set([
    ...HOP_BY_HOP_HEADERS,
    "x-request-id",
    "x-ms-request-id",
    "content-length",
    "server",
]);

/**
 * Most header fields a request may carry: gunicorn (azmlinfsrv) and Python's http.server (the
 * harness) both refuse more than 100, with their own pages; the router answers first, in JSON.
 */
export const MAX_REQUEST_HEADERS = 100;
/** Headers undici adds to the request to a replica: host, connection, content-length. */
const TRANSPORT_HEADERS = 3;

/**
 * Refusals decided from the request head alone (pure): more than {@link MAX_REQUEST_HEADERS}
 * header fields (431), or more than one Host (400: RFC 9112 §3.2 — two hosts make the target
 * ambiguous between the router and whoever reads the request next).
 */
export function requestHeadProblem(
    rawHeaders: readonly string[],
):
    | { status: 400 | 431; reason: "too_many_headers" | "duplicate_host"; message: string }
    | undefined {
    const count = rawHeaders.length / 2;
    if (count > MAX_REQUEST_HEADERS) {
        return {
            status: 431,
            reason: "too_many_headers",
            message: `Too many request header fields: ${count} (at most ${MAX_REQUEST_HEADERS})`,
        };
    }
    let hosts = 0;
    for (let i = 0; i < rawHeaders.length; i += 2) {
        if (rawHeaders[i].length === 4 && rawHeaders[i].toLowerCase() === "host") hosts++;
    }
    if (hosts > 1) {
        return {
            status: 400,
            reason: "duplicate_host",
            message: "Bad request: more than one Host header",
        };
    }
    return undefined;
}

/**
 * The forwarded request must fit the model server's limit too, with the headers the router adds
 * (request ids, X-Forwarded-*, X-Real-IP, Forwarded) and the transport's own.
 */
export function upstreamHeaderCount(headers: OutgoingHttpHeaders): number {
    let n = TRANSPORT_HEADERS;
    for (const name in headers) {
        const v = headers[name];
        n += Array.isArray(v) ? v.length : 1;
    }
    return n;
}

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
    // The usual values name no header besides the hop-by-hop ones, which are dropped anyway.
    if (text.length <= 10 && ONLY_HOP_BY_HOP.has(text.toLowerCase())) return undefined;
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
    if (ctx.clientIp) out["x-real-ip"] = ctx.clientIp;
    out.forwarded = forwardedElement(ctx.clientIp, ctx.proto, headers.host);
    return out;
}

/** RFC 7239 quoting: a token as is, anything else (IPv6, ports) as a quoted string. */
function forwardedValue(value: string): string {
    return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)
        ? value
        : `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/** The last element built: a connection's requests (and most clients') repeat it. */
const lastForwarded = { clientIp: "", proto: "", host: "", value: "" };

/**
 * The router's own `Forwarded` element (RFC 7239), replacing the caller's: nothing in front of
 * the router is trusted, and unlike X-Forwarded-For a client-written element could not be told
 * apart from the router's.
 */
function forwardedElement(
    clientIp: string | undefined,
    proto: string,
    host: string | undefined,
): string {
    const last = lastForwarded;
    if (
        last.value !== "" &&
        last.clientIp === (clientIp ?? "") &&
        last.proto === proto &&
        last.host === (host ?? "")
    ) {
        return last.value;
    }
    const value = buildForwardedElement(clientIp, proto, host);
    last.clientIp = clientIp ?? "";
    last.proto = proto;
    last.host = host ?? "";
    last.value = value;
    return value;
}

function buildForwardedElement(
    clientIp: string | undefined,
    proto: string,
    host: string | undefined,
): string {
    const parts: string[] = [];
    if (clientIp)
        parts.push(`for=${forwardedValue(clientIp.includes(":") ? `[${clientIp}]` : clientIp)}`);
    parts.push(`proto=${proto}`);
    if (host && /^[\x21-\x7e]+$/.test(host)) parts.push(`host=${forwardedValue(host)}`);
    return parts.join(";");
}

/**
 * Response headers from the replica as a flat raw list (keeps case and repeated headers such as
 * Set-Cookie), minus hop-by-hop ones and `Server`, plus the request id and the body length. `x-ms-run-fn-exec-ms` and
 * `x-ms-run-function-failed` pass through untouched.
 */
export function downstreamResponseHeaders(
    rawHeaders: readonly string[],
    requestId: string,
    bodyLength?: number,
    status?: number,
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
    // The answer is sent whole: its length is known (no Content-Length on 204/304, RFC 9110).
    if (bodyLength !== undefined && status !== 204 && status !== 304) {
        out.push("content-length", String(bodyLength));
    }
    return out;
}
