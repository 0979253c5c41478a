/**
 * The router's vocabulary of outcomes: every reason the router answers a request itself or cuts
 * an exchange, with the status the client gets, the message of the JSON error body and the
 * metric family that counts it. One table (like undici's lib/core/errors.js and fastify's
 * lib/errors.js): router.ts, routing/exchange.ts, the metrics, the access log and the error
 * bodies all read it, so a reason has one status and one wording everywhere.
 *
 * The reason strings are stable: they appear in access logs (`reason`), in the
 * `amlaks_router_rejections_total{reason}` label and in observer records.
 */

/** Extra counter an outcome feeds besides `amlaks_router_rejections_total`. */
export type OutcomeCounter = "auth_failures" | "payload_limit_rejections";

export interface Outcome {
    /**
     * Status the router sends for this reason (499: the client closed first, nothing was sent).
     * A reason set after the answer's status line went out (client_stalled, router_shutdown
     * while sending) keeps the status that was sent.
     */
    readonly status: number;
    /** `message` of the JSON error body (`{"message": ...}`); never more than the status says. */
    readonly message: string;
    /** Also counted here (auth failures, payload-limit rejections). */
    readonly counter?: OutcomeCounter;
    /** The router adds `Retry-After` (the client may try again later). */
    readonly retryAfter?: boolean;
    /** Why it happens (documentation; shown in docs/router.md). */
    readonly description: string;
}

const UNAVAILABLE = "Service unavailable: no replica was free in time, retry later";
const BAD_GATEWAY = "Bad gateway: the model replica failed";

/** Every outcome the router produces. Keys are the `reason` of logs, metrics and records. */
export const OUTCOMES = {
    // ---- answered from the request head, before any replica is involved ----
    no_route: {
        status: 404,
        message: "Not found",
        description: "The path is not /api/v1/service/<name>/score or /swagger.json.",
    },
    method: {
        status: 405,
        message: "Method not allowed",
        description: "Score takes GET and POST, swagger.json takes GET (Allow header).",
    },
    too_many_headers: {
        status: 431,
        message: "Request header fields too large",
        description:
            "More header fields than the model server accepts (with the ones the router adds).",
    },
    duplicate_host: {
        status: 400,
        message: "Bad request: more than one Host header",
        description: "Two Host headers make the target ambiguous (RFC 9112 §3.2).",
    },
    body_too_large: {
        status: 413,
        message: "Request body too large",
        counter: "payload_limit_rejections",
        description: "Content-Length or the bytes received passed the body limit (100 MiB).",
    },
    unknown_service: {
        status: 404,
        message: "Not found",
        description:
            "No such service, told only to callers holding some valid credential (router.ts).",
    },
    unauthorized: {
        status: 401,
        message: "Unauthorized",
        counter: "auth_failures",
        description: "Missing or wrong key or token (also unknown services to anonymous callers).",
    },
    // ---- while reading the body or waiting for a slot ----
    body_timeout: {
        status: 408,
        message: "Request timeout",
        description: "The client sent no body byte for bodyIdleTimeoutMs.",
    },
    buffer_budget_full: {
        status: 503,
        message: UNAVAILABLE,
        retryAfter: true,
        description: "Bodies and answers held by the router reached maxBufferedBytes.",
    },
    queue_full: {
        status: 503,
        message: UNAVAILABLE,
        retryAfter: true,
        description: "The service's queue of requests waiting for a slot is full.",
    },
    queue_timeout: {
        status: 503,
        message: UNAVAILABLE,
        retryAfter: true,
        description: "No replica slot became free within maxRequestWaitTime.",
    },
    router_shutdown: {
        status: 503,
        message: UNAVAILABLE,
        retryAfter: true,
        description: "The router stopped (drain timeout passed, or the service was removed).",
    },
    // ---- while the replica works ----
    scoring_timeout: {
        status: 504,
        message: "Gateway timeout: scoring did not finish within scoringTimeoutMs",
        description: "The replica's answer was not complete within scoringTimeoutMs.",
    },
    replica_unreachable: {
        status: 502,
        message: BAD_GATEWAY,
        description: "No connection to a replica could be made (after one retry elsewhere).",
    },
    replica_reset: {
        status: 502,
        message: BAD_GATEWAY,
        description: "The replica closed the connection after getting the request.",
    },
    replica_reset_mid_response: {
        status: 502,
        message: BAD_GATEWAY,
        description: "The replica closed the connection in the middle of its answer.",
    },
    replica_response_too_large: {
        status: 502,
        message: BAD_GATEWAY,
        counter: "payload_limit_rejections",
        description: "The replica's answer passed maxResponseBytes.",
    },
    replica_bad_headers: {
        status: 502,
        message: BAD_GATEWAY,
        description: "The replica's answer had headers Node refuses to send.",
    },
    // ---- the client side ----
    client_closed: {
        status: 499,
        message: "Client closed the request",
        description: "The client closed the connection before its answer was sent (nginx 499).",
    },
    client_stalled: {
        status: 499,
        message: "Client stopped reading",
        description:
            "The client took no byte of its answer for sendIdleTimeoutMs; the status logged is the one sent.",
    },
} as const satisfies Record<string, Outcome>;

export type OutcomeReason = keyof typeof OUTCOMES;

/** Status the router sends for `reason`. */
export function outcomeStatus(reason: OutcomeReason): number {
    return OUTCOMES[reason].status;
}

/** All reasons, for metrics pre-registration and documentation. */
export const OUTCOME_REASONS = Object.keys(OUTCOMES) as OutcomeReason[];
