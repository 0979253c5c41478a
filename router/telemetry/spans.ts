/**
 * What one finished request becomes in Application Insights / OTLP: pure decisions from an
 * {@link ExchangeRecord} to span plans, kept apart from the SDK so every field is testable.
 *
 * - a SERVER span (App Insights `requests`): request id, method, path, status, duration, success,
 *   service (the resource's `service.name`), replica, queue and model time, body sizes;
 * - a CLIENT span, child of it, when the request reached a replica (`dependencies`): router →
 *   replica, its status and model time. The record gives the model time, not when it began, so
 *   the span is placed at the end of the request (answers are small next to model time);
 * - exceptions (`exceptions`) as `exception` events of the server span: every 5xx the router
 *   produced (scoring timeout, unreachable replica, queue full...) and every 5xx of a replica;
 * - traces (`traces`) as other events: a retry on another replica, and the payload parts when
 *   payload logging is on.
 */
import {
    ATTR_CLIENT_ADDRESS,
    ATTR_ERROR_TYPE,
    ATTR_EXCEPTION_MESSAGE,
    ATTR_EXCEPTION_STACKTRACE,
    ATTR_EXCEPTION_TYPE,
    ATTR_HTTP_REQUEST_METHOD,
    ATTR_HTTP_RESPONSE_STATUS_CODE,
    ATTR_URL_PATH,
} from "@opentelemetry/semantic-conventions";
import type { ExchangeRecord } from "../observe";
import { OUTCOMES } from "../outcomes";
import { payloadHead, payloadParts } from "./payload";

/** The beginning of a body and its whole size. */
export interface PayloadHead {
    readonly head: Uint8Array;
    readonly bytes: number;
}

/**
 * What the export worker gets of a finished request: the record without the service definition
 * (which holds the keys) and, only with payload logging, the beginnings of the bodies. Plain data,
 * posted to the worker.
 */
export type ExportRecord = Omit<ExchangeRecord, "definition" | "requestBody" | "responseBody"> & {
    readonly requestPayload?: PayloadHead;
    readonly responsePayload?: PayloadHead;
};

/** The record to post; bodies are cut to what payload logging keeps and copied. */
export function toExportRecord(r: ExchangeRecord, logPayloads: boolean): ExportRecord {
    const out: Record<string, unknown> = {
        requestId: r.requestId,
        service: r.service,
        method: r.method,
        path: r.path,
        status: r.status,
        startTime: r.startTime,
        durationMs: r.durationMs,
        requestBytes: r.requestBytes,
        responseBytes: r.responseBytes,
    };
    for (const k of [
        "reason",
        "replica",
        "attempts",
        "clientAddress",
        "queueMs",
        "modelMs",
    ] as const) {
        if (r[k] !== undefined) out[k] = r[k];
    }
    if (logPayloads && r.requestBody) {
        out.requestPayload = { head: payloadHead(r.requestBody), bytes: r.requestBody.length };
    }
    if (logPayloads && r.responseBody) {
        out.responsePayload = { head: payloadHead(r.responseBody), bytes: r.responseBody.length };
    }
    return out as ExportRecord;
}

/** Spans a record becomes (server, and client when it reached a replica). */
export function spanCount(r: Pick<ExchangeRecord, "replica">): number {
    return r.replica === undefined ? 1 : 2;
}

export type AttributeValue = string | number | boolean;
export type Attributes = Readonly<Record<string, AttributeValue>>;

export interface EventPlan {
    readonly name: string;
    /** Epoch milliseconds. */
    readonly time: number;
    readonly attributes: Attributes;
}

export interface SpanPlan {
    readonly name: string;
    readonly kind: "server" | "client";
    /** Epoch milliseconds. */
    readonly startTime: number;
    readonly endTime: number;
    readonly attributes: Attributes;
    /** Span status ERROR (App Insights: success = false). */
    readonly error: boolean;
    readonly events: readonly EventPlan[];
}

export interface ExchangePlan {
    readonly server: SpanPlan;
    /** Only when the request reached a replica. */
    readonly client?: SpanPlan;
}

/** Attribute names of this project (App Insights: `customDimensions`). */
export const ATTR = {
    requestId: "amlaks.request_id",
    service: "amlaks.service",
    replica: "amlaks.replica",
    attempts: "amlaks.attempts",
    queueMs: "amlaks.queue_ms",
    modelMs: "amlaks.model_ms",
    outcome: "amlaks.outcome",
    payload: "amlaks.payload",
    payloadPart: "amlaks.payload.part",
    payloadParts: "amlaks.payload.parts",
    payloadBytes: "amlaks.payload.bytes",
    payloadEncoding: "amlaks.payload.encoding",
    payloadTruncated: "amlaks.payload.truncated",
    requestBodySize: "http.request.body.size",
    responseBodySize: "http.response.body.size",
    peerService: "peer.service",
} as const;

/** Event names (App Insights `traces.message`). */
export const EVENT = {
    exception: "exception",
    retried: "retried on another replica",
    requestPayload: "request payload",
    responsePayload: "response payload",
} as const;

/** Router outcomes where the replica failed (the dependency failed, no replica status). */
const REPLICA_FAILURES: ReadonlySet<string> = new Set([
    "scoring_timeout",
    "replica_unreachable",
    "replica_reset",
    "replica_reset_mid_response",
    "replica_response_too_large",
    "replica_bad_headers",
]);

/** Exception type of a 5xx the replica itself answered. */
export const REPLICA_ERROR = "replica_error";

/** The replica-side path the router forwards to (aml-v1-spec §5). */
function replicaPath(path: string): string {
    return path.endsWith("/swagger.json") ? "/swagger.json" : "/score";
}

function description(reason: string): string {
    const o = (OUTCOMES as Record<string, { description: string } | undefined>)[reason];
    return o?.description ?? reason;
}

function payloadEvents(name: string, body: PayloadHead, time: number): EventPlan[] {
    const p = payloadParts(body.head, body.bytes);
    return p.parts.map((text, i) => ({
        name,
        time,
        attributes: {
            [ATTR.payload]: text,
            [ATTR.payloadPart]: i + 1,
            [ATTR.payloadParts]: p.parts.length,
            [ATTR.payloadBytes]: p.bytes,
            [ATTR.payloadEncoding]: p.encoding,
            [ATTR.payloadTruncated]: p.truncated,
        },
    }));
}

/** The spans of one finished request (payload events when the record carries bodies). */
export function planExchange(r: ExportRecord): ExchangePlan {
    const start = r.startTime;
    const end = start + Math.max(0, r.durationMs);
    const reason = r.reason;
    const server: Record<string, AttributeValue> = {
        [ATTR_HTTP_REQUEST_METHOD]: r.method,
        [ATTR_URL_PATH]: r.path,
        [ATTR_HTTP_RESPONSE_STATUS_CODE]: r.status,
        [ATTR.requestId]: r.requestId,
        [ATTR.service]: r.service,
        [ATTR.requestBodySize]: r.requestBytes,
        [ATTR.responseBodySize]: r.responseBytes,
    };
    if (r.clientAddress) server[ATTR_CLIENT_ADDRESS] = r.clientAddress;
    if (r.replica !== undefined) server[ATTR.replica] = r.replica;
    if (r.attempts !== undefined) server[ATTR.attempts] = r.attempts;
    if (r.queueMs !== undefined) server[ATTR.queueMs] = r.queueMs;
    if (r.modelMs !== undefined) server[ATTR.modelMs] = r.modelMs;
    if (reason !== undefined) server[ATTR.outcome] = reason;
    const serverError = r.status >= 500;
    if (serverError) server[ATTR_ERROR_TYPE] = reason ?? String(r.status);

    const events: EventPlan[] = [];
    if (serverError) {
        const type = reason ?? REPLICA_ERROR;
        const message =
            reason !== undefined
                ? description(reason)
                : `The model replica ${r.replica ?? "(unknown)"} answered ${r.status}.`;
        events.push({
            name: EVENT.exception,
            time: end,
            attributes: {
                [ATTR_EXCEPTION_TYPE]: type,
                [ATTR_EXCEPTION_MESSAGE]: message,
                // App Insights shows this as the stack; a router failure has no code stack.
                [ATTR_EXCEPTION_STACKTRACE]: `${type}: ${message}\n    at ${r.method} ${r.path} (request ${r.requestId})`,
            },
        });
    }
    if ((r.attempts ?? 0) > 1) {
        events.push({
            name: EVENT.retried,
            time: end,
            attributes: { [ATTR.attempts]: r.attempts ?? 0, [ATTR.replica]: r.replica ?? "" },
        });
    }
    if (r.requestPayload) {
        events.push(...payloadEvents(EVENT.requestPayload, r.requestPayload, start));
    }
    if (r.responsePayload) {
        events.push(...payloadEvents(EVENT.responsePayload, r.responsePayload, end));
    }

    const plan: { server: SpanPlan; client?: SpanPlan } = {
        server: {
            name: `${r.method} ${r.path}`,
            kind: "server",
            startTime: start,
            endTime: end,
            attributes: server,
            error: serverError,
            events,
        },
    };
    if (r.replica !== undefined) {
        const path = replicaPath(r.path);
        const replicaFailed = reason !== undefined && REPLICA_FAILURES.has(reason);
        // The replica's own status reached the client unless the router answered instead.
        const replicaStatus = reason === undefined ? r.status : undefined;
        const client: Record<string, AttributeValue> = {
            [ATTR_HTTP_REQUEST_METHOD]: r.method,
            [ATTR_URL_PATH]: path,
            [ATTR.peerService]: r.service,
            [ATTR.requestId]: r.requestId,
            [ATTR.service]: r.service,
            [ATTR.replica]: r.replica,
        };
        if (replicaStatus !== undefined) client[ATTR_HTTP_RESPONSE_STATUS_CODE] = replicaStatus;
        if (r.attempts !== undefined) client[ATTR.attempts] = r.attempts;
        if (r.modelMs !== undefined) client[ATTR.modelMs] = r.modelMs;
        // HTTP client spans fail on 4xx and 5xx (OpenTelemetry HTTP conventions).
        const clientError = replicaFailed || (replicaStatus ?? 0) >= 400;
        if (clientError) client[ATTR_ERROR_TYPE] = replicaFailed ? reason : String(replicaStatus);
        const modelMs = Math.min(Math.max(0, r.modelMs ?? 0), end - start);
        plan.client = {
            name: `${r.method} ${path}`,
            kind: "client",
            startTime: end - modelMs,
            endTime: end,
            attributes: client,
            error: clientError,
            events: [],
        };
    }
    return plan;
}
