/**
 * One request through the router, from arrival to its settled answer: what the router and the
 * exchange learn about it along the way (service, replica, timings, sizes, outcome), in one
 * object instead of positional parameters. The router settles it exactly once (`Router.settle`):
 * metrics, access log and observers all read from here.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { UNKNOWN_SERVICE_LABEL } from "../metrics";
import type { ExchangeRecord } from "../observe";
import { OUTCOMES, type Outcome, type OutcomeReason } from "../outcomes";
import type { ServiceDefinition } from "../types";
import { sendError, sendErrorAndClose } from "./respond";

/** Longest path kept for logs and records (the path is the client's text). */
const MAX_LOGGED_PATH = 200;

export class RouterRequest {
    /** Service name, or {@link UNKNOWN_SERVICE_LABEL} until a known service is resolved. */
    service = UNKNOWN_SERVICE_LABEL;
    definition: ServiceDefinition | undefined;
    /** Path without the query string (a GET query can carry the payload). */
    path: string;
    /** Set when the router answered itself or cut the exchange. */
    reason: OutcomeReason | undefined;
    /** Status the client got (or 499); set when the request settles. */
    status = 0;
    /** Replica that served it (last one tried). */
    replica: string | undefined;
    attempts = 0;
    /** Time waiting for a replica slot (ms); undefined when no slot was asked for. */
    queueMs: number | undefined;
    /** Time from sending to the replica until its answer was complete, or cut (ms). */
    modelMs: number | undefined;
    /** Body bytes read from the client. */
    requestBytes = 0;
    /** Body bytes sent to the client. */
    responseBytes = 0;
    /** The head announces a body (chunked, or a non-zero Content-Length). */
    readonly hasBody: boolean;
    /** Some observer wants this request's bodies (asked when forwarding). */
    keepPayloads = false;
    requestBody: Buffer | undefined;
    responseBody: Buffer | undefined;

    constructor(
        readonly req: IncomingMessage,
        readonly res: ServerResponse,
        readonly requestId: string,
        /** performance.now() at arrival. */
        readonly startedAt: number,
        readonly proto: "http" | "https",
        path: string,
    ) {
        this.path = path.length > MAX_LOGGED_PATH ? path.slice(0, MAX_LOGGED_PATH) : path;
        const h = req.headers;
        const cl = h["content-length"];
        this.hasBody = h["transfer-encoding"] !== undefined || (cl !== undefined && cl !== "0");
    }

    /** The service is known from here on. */
    resolve(definition: ServiceDefinition): void {
        this.definition = definition;
        this.service = definition.name;
    }

    /**
     * A request body that the router has not read may still arrive on this connection: a
     * chunked or non-empty one, not complete, unless the client waits for `100 Continue`.
     */
    bodyMayFollow(continueSent = false): boolean {
        if (!this.hasBody || this.req.complete) return false;
        return continueSent || !expectsContinue(this.req);
    }

    /**
     * Sends the router's answer for `reason` (status and message from the outcomes table, plus
     * Retry-After where the table says so). When a body may still follow, or `close` asks for it,
     * the connection closes after the answer (lingering to read the rest, see respond.ts).
     * `headers` are added (WWW-Authenticate, Allow).
     */
    sendOutcome(reason: OutcomeReason, opts: SendOutcomeOptions): void {
        const outcome: Outcome = OUTCOMES[reason];
        const { res, req } = this;
        const message = opts.message ?? outcome.message;
        let headers = opts.headers;
        if (outcome.retryAfter)
            headers = { ...headers, "retry-after": String(opts.retryAfterSeconds) };
        const mayFollow = this.bodyMayFollow(opts.continueSent);
        if (opts.close || mayFollow) {
            if (headers) for (const k in headers) res.setHeader(k, headers[k]);
            const linger = mayFollow ? opts.lingerMs : 0;
            this.responseBytes = sendErrorAndClose(
                req,
                res,
                outcome.status,
                this.requestId,
                linger,
                message,
            );
        } else {
            this.responseBytes = sendError(res, outcome.status, this.requestId, headers, message);
        }
    }

    /** What observers get. Bodies only when some observer asked for them. */
    record(durationMs: number): ExchangeRecord {
        return {
            requestId: this.requestId,
            service: this.service,
            definition: this.definition,
            method: this.req.method ?? "",
            path: this.path,
            status: this.status,
            reason: this.reason,
            replica: this.replica,
            attempts: this.attempts,
            clientAddress: this.req.socket.remoteAddress,
            startTime: performance.timeOrigin + this.startedAt,
            durationMs,
            queueMs: this.queueMs,
            modelMs: this.modelMs,
            requestBytes: this.requestBytes,
            responseBytes: this.responseBytes,
            requestBody: this.keepPayloads ? this.requestBody : undefined,
            responseBody: this.keepPayloads ? this.responseBody : undefined,
        };
    }
}

export interface SendOutcomeOptions {
    /** Replaces the table's message (e.g. with the header count). */
    readonly message?: string;
    readonly headers?: Record<string, string>;
    /** Close the connection after the answer even when no body follows (413, 408). */
    readonly close?: boolean;
    /** The router already sent `100 Continue`, so the client sends its body. */
    readonly continueSent?: boolean;
    readonly retryAfterSeconds: number;
    readonly lingerMs: number;
}

export function expectsContinue(req: IncomingMessage): boolean {
    const e = req.headers.expect;
    return typeof e === "string" && e.toLowerCase() === "100-continue";
}
