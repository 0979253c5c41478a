/**
 * One proxied request: wait for a replica slot, stream the body to the replica, stream the answer
 * back. Every path out (success, model error, scoring timeout, replica crash, client abort,
 * oversize body, router shutdown) goes through `releaseSlot` once and `account` once, so the
 * busy counters the autoscaler reads stay exact (DESIGN §5, ray#61551).
 *
 * Status codes the router produces itself:
 * - 503 + Retry-After: no slot within `maxRequestWaitTime`, queue full, or router closing;
 * - 504: `scoringTimeoutMs` passed before the replica answered;
 * - 502: the replica failed (refused twice, reset before answering);
 * - 413: body above the limit (R19) while streaming; 408: client stopped sending its body.
 * A connection that cannot be made (the request was never written) is retried once on another
 * replica; small bodies are read whole first and streamed ones are read only once connected, so
 * the body is always there to send again.
 */
import type * as http from "node:http";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { Pool, type Dispatcher } from "undici";
import { logAccess, type Logger } from "../log";
import type { RouterMetrics } from "../metrics";
import type { ReplicaState, RejectReason, ServicePool, Ticket } from "./pool";
import type { QueueNode } from "./queue";
import { sendError, sendErrorAndClose } from "./respond";
import { downstreamResponseHeaders } from "./headers";

/**
 * Transport to one replica: an undici Pool (keep-alive connections, no pipelining). Measured
 * against a node:http keep-alive Agent with the same 20-line proxy, undici moved ~50% more
 * requests per CPU (bench/router-proxy.ts), so it carries the hot path.
 */
export interface Upstream {
    readonly pool: Pool;
}

export interface UpstreamOptions {
    /** Connecting longer than this counts as a connection failure. */
    readonly connectTimeoutMs: number;
    /**
     * Idle kept-alive connections close after this; below the model server's own keep-alive
     * (gunicorn: 2 s) so the router rarely writes into a connection the replica just closed.
     */
    readonly keepAliveTimeoutMs: number;
}

export function createUpstream(url: string, opts: UpstreamOptions): Upstream {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") {
        throw new Error(`replica URL must be http(s): ${url}`);
    }
    return {
        pool: new Pool(u.origin, {
            connections: null,
            pipelining: 1,
            keepAliveTimeout: opts.keepAliveTimeoutMs,
            keepAliveMaxTimeout: opts.keepAliveTimeoutMs,
            connect: { timeout: opts.connectTimeoutMs },
            // The router's own scoring timer bounds the exchange.
            headersTimeout: 0,
            bodyTimeout: 0,
        }),
    };
}

export function disposeUpstream(upstream: Upstream): void {
    upstream.pool.destroy().catch(() => undefined);
}

export type ReplicaSlot = ReplicaState<Upstream>;

/** Settings of the router that apply to every exchange. */
export interface ExchangeLimits {
    readonly maxBodyBytes: number;
    /** Bodies up to this size (by Content-Length) are read whole before a replica is chosen. */
    readonly smallBodyBytes: number;
    readonly bodyIdleTimeoutMs: number;
    readonly retryAfterSeconds: number;
    readonly lingerMs: number;
    /** A replica that refused a connection is skipped this long (passive health check). */
    readonly ejectMs: number;
}

export interface ExchangeInit {
    readonly service: string;
    readonly pool: ServicePool<Upstream>;
    readonly req: http.IncomingMessage;
    readonly res: http.ServerResponse;
    /** Path on the replica, query string included (`/score?x=1`). */
    readonly upstreamPath: string;
    /** Path for the access log (no query string). */
    readonly logPath: string;
    readonly headers: http.OutgoingHttpHeaders;
    readonly requestId: string;
    readonly scoringTimeoutMs: number;
    readonly startedAt: number;
    readonly limits: ExchangeLimits;
    readonly metrics: RouterMetrics;
    readonly logger: Logger;
    readonly accessLog: boolean;
    readonly onDone: (exchange: Exchange) => void;
}

/** One try on one replica; callbacks of an attempt that is no longer current are ignored. */
class Attempt implements Dispatcher.DispatchHandlers {
    abortFn: ((err?: Error) => void) | undefined;
    connected = false;
    cancelled = false;
    headers = false;
    resume: (() => void) | undefined;

    constructor(private readonly ex: Exchange) {}

    cancel(): void {
        this.cancelled = true;
        const abort = this.abortFn;
        this.abortFn = undefined;
        if (abort) abort();
    }

    onConnect(abort: (err?: Error) => void): void {
        if (this.cancelled) {
            abort();
            return;
        }
        this.abortFn = abort;
        this.connected = true;
    }

    onError(err: Error): void {
        this.abortFn = undefined;
        if (!this.cancelled) this.ex.upstreamError(this, err as NodeJS.ErrnoException);
    }

    onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
        if (this.cancelled) return false;
        if (statusCode < 200) return true; // 1xx from the replica: not forwarded
        this.headers = true;
        this.resume = resume;
        return this.ex.upstreamHeaders(statusCode, rawHeaders);
    }

    onData(chunk: Buffer): boolean {
        if (this.cancelled) return false;
        return this.ex.upstreamData(this, chunk);
    }

    onComplete(): void {
        this.abortFn = undefined;
        if (!this.cancelled) this.ex.upstreamComplete();
    }
}

export class Exchange {
    /** The router's handle on this exchange in its list of exchanges in progress. */
    listNode: QueueNode<Exchange> | undefined;
    private readonly i: ExchangeInit;
    /** none: no body; buffer: small, read whole before a replica is chosen; stream: piped. */
    private readonly bodyMode: "none" | "buffer" | "stream";
    private readonly expectContinue: boolean;
    /** Slot currently held, released exactly once per grant. */
    private holding: ReplicaSlot | undefined;
    /** Last replica tried (for the log). */
    private replicaId: string | undefined;
    private ticket: Ticket | undefined;
    private enqueuedAt = 0;
    private queueMs = 0;
    private attempts = 0;
    private live: Attempt | undefined;
    private responding = false;
    private bodyListening = false;
    private bodyEnded = false;
    private bodyBytes = 0;
    /** Small body, complete. */
    private buffered: Buffer | undefined;
    /** Streamed body: the stream of the current attempt. */
    private feed: Readable | undefined;
    private continueSent = false;
    private scoringTimer: NodeJS.Timeout | undefined;
    private idleTimer: NodeJS.Timeout | undefined;
    /** Why the router answered or cut the exchange; undefined when the replica answered. */
    private reason: string | undefined;
    /** Status the router chose (sent, or to log when the connection was cut). */
    private routerStatus: number | undefined;
    private done = false;

    constructor(init: ExchangeInit) {
        this.i = init;
        const h = init.req.headers;
        const cl = h["content-length"];
        if (h["transfer-encoding"] !== undefined) this.bodyMode = "stream";
        else if (cl === undefined || cl === "0") this.bodyMode = "none";
        else this.bodyMode = Number(cl) <= init.limits.smallBodyBytes ? "buffer" : "stream";
        this.expectContinue =
            typeof h.expect === "string" && h.expect.toLowerCase() === "100-continue";
    }

    start(): void {
        this.i.res.on("close", this.onClientClose);
        if (this.bodyMode === "buffer") this.readBody();
        else this.acquire();
    }

    /** Router shutdown: cut the exchange (called after the drain timeout). */
    abort(): void {
        this.fail(503, "router_shutdown");
    }

    private acquire(): void {
        const { pool } = this.i;
        const replica = pool.tryAcquire();
        if (replica) {
            this.i.metrics.queueWait.observe({ service: this.i.service }, 0);
            this.dispatch(replica);
            return;
        }
        this.enqueuedAt = performance.now();
        this.ticket = pool.enqueue(this.onGrant, this.onReject);
    }

    private readonly onGrant = (replica: ReplicaSlot): void => {
        this.ticket = undefined;
        this.queueMs = performance.now() - this.enqueuedAt;
        this.i.metrics.queueWait.observe({ service: this.i.service }, this.queueMs / 1000);
        if (this.done || this.reason !== undefined) {
            this.i.pool.release(replica);
            return;
        }
        this.dispatch(replica);
    };

    private readonly onReject = (reason: RejectReason): void => {
        this.ticket = undefined;
        if (this.enqueuedAt > 0) this.queueMs = performance.now() - this.enqueuedAt;
        this.fail(503, reason === "closed" ? "router_shutdown" : reason);
    };

    private dispatch(replica: ReplicaSlot): void {
        this.holding = replica;
        this.replicaId = replica.id;
        this.attempts++;
        if (this.scoringTimer === undefined) {
            this.scoringTimer = setTimeout(this.onScoringTimeout, this.i.scoringTimeoutMs);
        }
        const attempt = new Attempt(this);
        this.live = attempt;
        let body: Buffer | Readable | undefined;
        if (this.bodyMode === "buffer") body = this.buffered;
        else if (this.bodyMode === "stream") body = this.newFeed();
        replica.upstream.pool.dispatch(
            {
                path: this.i.upstreamPath,
                method: this.i.req.method as Dispatcher.HttpMethod,
                headers: this.i.headers as Record<string, string>,
                body,
            },
            attempt,
        );
    }

    // ---- request body ----------------------------------------------------------------------

    /** Small body: read it whole first (a slow uploader holds no replica slot; always replayable). */
    private readBody(): void {
        const chunks: Buffer[] = [];
        this.sendContinue();
        this.listenBody((chunk) => chunks.push(chunk));
        this.onBodyComplete = () => {
            this.buffered = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
            this.acquire();
        };
    }

    /** Streamed body: a stream per attempt, read only once undici is connected and sending. */
    private newFeed(): Readable {
        const feed = new Readable({
            highWaterMark: 64 * 1024,
            read: () => {
                if (this.feed !== feed) return;
                if (!this.bodyListening) {
                    // The replica is connected and undici wants the body: start reading it now,
                    // so nothing is consumed before a connection exists (retry stays possible).
                    this.sendContinue();
                    this.listenBody((chunk) => {
                        const f = this.feed;
                        if (f && !f.destroyed && !f.push(chunk)) this.i.req.pause();
                    });
                    this.onBodyComplete = () => this.feed?.push(null);
                }
                this.i.req.resume();
            },
        });
        this.feed = feed;
        return feed;
    }

    private onBodyComplete: () => void = () => undefined;
    private onBodyChunk: (chunk: Buffer) => void = () => undefined;

    private listenBody(onChunk: (chunk: Buffer) => void): void {
        this.bodyListening = true;
        this.onBodyChunk = onChunk;
        const { req } = this.i;
        req.on("data", this.onBodyData);
        req.on("end", this.onBodyEnd);
        this.armIdleTimer();
    }

    private readonly onBodyData = (chunk: Buffer): void => {
        this.bodyBytes += chunk.length;
        if (this.bodyBytes > this.i.limits.maxBodyBytes) {
            this.tooLarge();
            return;
        }
        if (this.idleTimer) this.idleTimer.refresh();
        this.onBodyChunk(chunk);
    };

    private readonly onBodyEnd = (): void => {
        this.bodyEnded = true;
        this.clearIdleTimer();
        this.onBodyComplete();
    };

    private stopBody(): void {
        const { req } = this.i;
        req.removeListener("data", this.onBodyData);
        req.removeListener("end", this.onBodyEnd);
    }

    private sendContinue(): void {
        if (this.expectContinue && !this.continueSent) {
            this.continueSent = true;
            this.i.res.writeContinue();
        }
    }

    private armIdleTimer(): void {
        if (this.bodyEnded || this.idleTimer) return;
        this.idleTimer = setTimeout(() => {
            this.idleTimer = undefined;
            if (!this.bodyEnded) this.fail(408, "body_timeout", true);
        }, this.i.limits.bodyIdleTimeoutMs);
    }

    private clearIdleTimer(): void {
        if (this.idleTimer) clearTimeout(this.idleTimer);
        this.idleTimer = undefined;
    }

    /** R19: the streamed body passed the limit; the replica sees its request aborted. */
    private tooLarge(): void {
        this.stopBody();
        this.fail(413, "body_too_large", true);
    }

    // ---- upstream events (from Attempt) ----------------------------------------------------

    upstreamHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
        const { res, requestId } = this.i;
        const raw: string[] = new Array<string>(rawHeaders.length);
        for (let k = 0; k < rawHeaders.length; k++) raw[k] = rawHeaders[k].toString("latin1");
        try {
            res.writeHead(statusCode, downstreamResponseHeaders(raw, requestId));
        } catch {
            // A header Node refuses to send (invalid characters): the replica's answer is unusable.
            this.fail(502, "replica_bad_headers");
            return false;
        }
        this.responding = true;
        return true;
    }

    upstreamData(attempt: Attempt, chunk: Buffer): boolean {
        const { res } = this.i;
        if (res.write(chunk)) return true;
        if (!res.destroyed && attempt.resume) res.once("drain", attempt.resume);
        return false;
    }

    upstreamComplete(): void {
        // The replica finished its answer: its slot is free even if the client reads slowly.
        this.live = undefined;
        this.clearScoringTimer();
        this.releaseSlot();
        this.i.res.end();
    }

    upstreamError(attempt: Attempt, err: NodeJS.ErrnoException): void {
        if (this.live !== attempt || this.done || this.reason !== undefined) return;
        this.live = undefined;
        if (attempt.headers) {
            // The replica died mid-answer: the status is out, so cut the client response.
            this.fail(502, "replica_reset_mid_response");
            return;
        }
        // Retry only when the request was never written: no connection could be made. Once
        // written, the replica may have read and run it (a scoring call need not be idempotent,
        // and a request that crashed one replica must not crash a second) — nginx's rule for
        // non-idempotent requests. Stale kept-alive connections are avoided instead by closing
        // idle ones sooner than model servers do (upstreamKeepAliveMs).
        const connectPhase = !attempt.connected;
        // Small bodies are in memory; a streamed one is only read once connected (see newFeed).
        const replayable = this.bodyMode !== "stream" || !this.bodyListening;
        if (this.attempts < 2 && connectPhase && replayable) {
            this.retry();
            return;
        }
        this.i.logger.debug(
            { requestId: this.i.requestId, replica: this.replicaId, code: err.code },
            "replica request failed",
        );
        this.fail(502, connectPhase ? "replica_unreachable" : "replica_reset");
    }

    /** Once: the connection failed, so the replica never saw the request. */
    private retry(): void {
        const failed = this.holding;
        this.i.req.pause();
        this.feed = undefined;
        this.releaseSlot();
        // A refused connection points at a dead replica: go elsewhere (and skip it for a while).
        const pool = this.i.pool;
        const exclude = failed;
        if (exclude) {
            pool.eject(exclude, this.i.limits.ejectMs);
            if (!pool.hasOtherReplica(exclude)) {
                this.fail(502, "replica_unreachable");
                return;
            }
        }
        this.i.metrics.retries.inc({ service: this.i.service });
        const replica = pool.tryAcquire(exclude, true);
        if (replica) {
            this.dispatch(replica);
            return;
        }
        this.enqueuedAt = performance.now();
        this.ticket = pool.enqueue(this.onGrant, this.onReject, true, exclude);
    }

    private readonly onScoringTimeout = (): void => {
        this.scoringTimer = undefined;
        this.fail(504, "scoring_timeout");
    };

    private clearScoringTimer(): void {
        if (this.scoringTimer) clearTimeout(this.scoringTimer);
        this.scoringTimer = undefined;
    }

    /**
     * The router ends the exchange itself: stop the upstream request (the replica sees the abort),
     * free the slot, answer `status` if nothing was sent yet, else cut the response.
     */
    private fail(status: number, reason: string, closeConnection = false): void {
        if (this.done || this.reason !== undefined) return;
        const { req, res, pool, requestId, limits } = this.i;
        this.reason = reason;
        this.routerStatus = status;
        if (this.ticket) {
            pool.cancel(this.ticket);
            this.ticket = undefined;
        }
        this.stopUpstream();
        this.releaseSlot();
        this.clearTimers();
        this.i.metrics.rejections.inc({ service: this.i.service, reason });
        if (res.headersSent || this.responding) {
            res.destroy();
            return;
        }
        const unread = this.bodyMode !== "none" && !this.bodyEnded;
        if (closeConnection) {
            const bodyMayFollow = unread && (!this.expectContinue || this.continueSent);
            sendErrorAndClose(req, res, status, requestId, bodyMayFollow ? limits.lingerMs : 0);
        } else if (status === 503) {
            if (unread) res.shouldKeepAlive = false;
            sendError(res, status, requestId, { "retry-after": String(limits.retryAfterSeconds) });
        } else {
            if (unread) res.shouldKeepAlive = false;
            sendError(res, status, requestId);
        }
    }

    private stopUpstream(): void {
        const attempt = this.live;
        this.live = undefined;
        attempt?.cancel();
        const feed = this.feed;
        this.feed = undefined;
        if (feed && !feed.destroyed) feed.destroy();
    }

    private releaseSlot(): void {
        const replica = this.holding;
        if (!replica) return;
        this.holding = undefined;
        this.i.pool.release(replica);
    }

    private clearTimers(): void {
        this.clearScoringTimer();
        this.clearIdleTimer();
    }

    /** The single end of every exchange: the response finished, or the connection closed. */
    private readonly onClientClose = (): void => {
        const { res, pool } = this.i;
        if (!res.writableFinished && this.reason === undefined) {
            this.reason = "client_closed";
            this.routerStatus = 499;
        }
        this.done = true;
        if (this.ticket) {
            pool.cancel(this.ticket);
            this.ticket = undefined;
        }
        this.stopUpstream();
        this.releaseSlot();
        this.clearTimers();
        this.stopBody();
        this.account(this.routerStatus ?? res.statusCode);
    };

    private account(status: number): void {
        const { metrics, service, startedAt } = this.i;
        const durationMs = performance.now() - startedAt;
        metrics.requests.inc({ service, code: String(status) });
        metrics.duration.observe({ service }, durationMs / 1000);
        if (this.i.accessLog) {
            logAccess(this.i.logger, {
                requestId: this.i.requestId,
                service,
                method: this.i.req.method ?? "",
                path: this.i.logPath,
                status,
                durationMs: Math.round(durationMs * 1000) / 1000,
                queueMs: Math.round(this.queueMs * 1000) / 1000,
                replica: this.replicaId,
                attempts: this.attempts,
                reason: this.reason,
            });
        }
        this.i.onDone(this);
    }
}
