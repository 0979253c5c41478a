/**
 * One proxied request: read the body, wait for a replica slot, send the request, read the whole
 * answer, give the slot back, then answer the client. Every path out (success, model error,
 * scoring timeout, replica crash, client abort, oversize body, router shutdown) goes through
 * `releaseSlot` once and `account` once, so the busy counters the autoscaler reads stay exact
 * (DESIGN §5, ray#61551).
 *
 * Slots and timers (issue 15): a replica slot is the scarce resource, so only the replica's own
 * work holds one. The slot is taken once the whole request body is in router memory (a slow
 * uploader holds none), the scoring timer runs from then until the replica's answer is complete,
 * and the answer is read whole before the client sees any of it (a client that does not read
 * holds router memory, never the slot). So the router never fails an exchange after it sent a
 * status line: the status the client sees is the status logged. Buffered bytes (bodies and
 * answers) count against one router-wide budget (`BufferBudget`): a body that would pass it is
 * refused with 503, so slow clients cost bounded memory.
 *
 * Status codes the router produces itself:
 * - 503 + Retry-After: no slot within `maxRequestWaitTime`, queue full, buffer budget full, or
 *   router closing;
 * - 504: `scoringTimeoutMs` passed before the replica's answer was complete;
 * - 502: the replica failed (refused twice, reset before its answer was complete, answer above
 *   the size limit);
 * - 413: body above the limit (R19); 408: client stopped sending its body.
 * A connection that cannot be made (the request was never written) is retried once on another
 * replica; the body is in memory, so it can always be sent again.
 */
import type * as http from "node:http";
import { performance } from "node:perf_hooks";
import { Pool, type Dispatcher } from "undici";
import { logAccess, type Logger } from "../log";
import type { RouterMetrics } from "../metrics";
import type { ReplicaState, RejectReason, ServicePool, Ticket } from "./pool";
import type { QueueNode } from "./queue";
import { sendError, sendErrorAndClose } from "./respond";
import { timerDelay } from "../timers";
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

/**
 * Bytes the router holds for requests in progress (bodies read ahead, answers not yet sent), one
 * budget per router. Request bodies are admitted only within it; answers are counted but never
 * refused (the replica already did the work), so new bodies are refused while they are large.
 */
export class BufferBudget {
    used = 0;
    constructor(readonly limit: number) {}

    /** Reserves `n` bytes of a request body; false (nothing reserved) when over the budget. */
    tryTake(n: number): boolean {
        if (this.used + n > this.limit) return false;
        this.used += n;
        return true;
    }

    add(n: number): void {
        this.used += n;
    }

    give(n: number): void {
        this.used -= n;
    }
}

/** Settings of the router that apply to every exchange. */
export interface ExchangeLimits {
    readonly maxBodyBytes: number;
    /** Largest answer read from a replica (502 above). */
    readonly maxResponseBytes: number;
    readonly bodyIdleTimeoutMs: number;
    /** A client that takes no byte of its answer for this long is cut. */
    readonly sendIdleTimeoutMs: number;
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
    readonly budget: BufferBudget;
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

    onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
        if (this.cancelled) return false;
        if (statusCode < 200) return true; // 1xx from the replica: not forwarded
        this.headers = true;
        this.ex.upstreamHeaders(statusCode, rawHeaders);
        return true;
    }

    onData(chunk: Buffer): boolean {
        if (this.cancelled) return false;
        this.ex.upstreamData(chunk);
        // Never pause the replica for the client: the answer is read whole (module comment).
        return true;
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
    private readonly hasBody: boolean;
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
    private bodyListening = false;
    private bodyEnded = false;
    private bodyBytes = 0;
    private readonly bodyChunks: Buffer[] = [];
    /** The whole request body, once read. */
    private body: Buffer | undefined;
    /** The replica's answer being read. */
    private answerStatus = 0;
    private answerHeaders: string[] = [];
    private answerChunks: Buffer[] = [];
    private answerBytes = 0;
    /** Bytes of the budget this exchange holds. */
    private budgetHeld = 0;
    /** The answer was handed to the client connection. */
    private responding = false;
    private continueSent = false;
    private scoringTimer: NodeJS.Timeout | undefined;
    private idleTimer: NodeJS.Timeout | undefined;
    private sendTimer: NodeJS.Timeout | undefined;
    /** Why the router answered or cut the exchange; undefined when the replica answered. */
    private reason: string | undefined;
    /** Status the router chose (sent, or to log when the connection was cut). */
    private routerStatus: number | undefined;
    private done = false;

    constructor(init: ExchangeInit) {
        this.i = init;
        const h = init.req.headers;
        const cl = h["content-length"];
        this.hasBody = h["transfer-encoding"] !== undefined || (cl !== undefined && cl !== "0");
        this.expectContinue =
            typeof h.expect === "string" && h.expect.toLowerCase() === "100-continue";
    }

    start(): void {
        this.i.res.on("close", this.onClientClose);
        if (this.hasBody) this.readBody();
        else this.acquire();
    }

    /** Router shutdown: cut the exchange (called after the drain timeout). */
    abort(): void {
        if (this.responding) {
            this.reason ??= "router_shutdown";
            this.i.res.destroy();
            return;
        }
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
        // Scoring time is the replica's time: from the slot (body complete) to its whole answer.
        if (this.scoringTimer === undefined) {
            this.scoringTimer = setTimeout(
                this.onScoringTimeout,
                timerDelay(this.i.scoringTimeoutMs),
            );
        }
        const attempt = new Attempt(this);
        this.live = attempt;
        this.answerStatus = 0;
        this.answerHeaders = [];
        this.answerChunks = [];
        replica.upstream.pool.dispatch(
            {
                path: this.i.upstreamPath,
                method: this.i.req.method as Dispatcher.HttpMethod,
                headers: this.i.headers as Record<string, string>,
                body: this.body,
            },
            attempt,
        );
    }

    // ---- request body ----------------------------------------------------------------------

    /** Reads the whole body before a slot is taken (module comment). */
    private readBody(): void {
        this.sendContinue();
        this.bodyListening = true;
        const { req } = this.i;
        req.on("data", this.onBodyData);
        req.on("end", this.onBodyEnd);
        this.armIdleTimer();
    }

    private readonly onBodyData = (chunk: Buffer): void => {
        if (this.reason !== undefined) return;
        this.bodyBytes += chunk.length;
        if (this.bodyBytes > this.i.limits.maxBodyBytes) {
            this.stopBody();
            this.fail(413, "body_too_large", true);
            return;
        }
        if (!this.i.budget.tryTake(chunk.length)) {
            this.stopBody();
            this.fail(503, "buffer_budget_full", true);
            return;
        }
        this.budgetHeld += chunk.length;
        if (this.idleTimer) this.idleTimer.refresh();
        this.bodyChunks.push(chunk);
    };

    private readonly onBodyEnd = (): void => {
        this.bodyEnded = true;
        this.clearIdleTimer();
        if (this.reason !== undefined || this.done) return;
        const chunks = this.bodyChunks;
        this.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        chunks.length = 0;
        this.acquire();
    };

    private stopBody(): void {
        if (!this.bodyListening) return;
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
            if (!this.bodyEnded) {
                this.stopBody();
                this.fail(408, "body_timeout", true);
            }
        }, timerDelay(this.i.limits.bodyIdleTimeoutMs));
    }

    private clearIdleTimer(): void {
        if (this.idleTimer) clearTimeout(this.idleTimer);
        this.idleTimer = undefined;
    }

    // ---- upstream events (from Attempt) ----------------------------------------------------

    upstreamHeaders(statusCode: number, rawHeaders: Buffer[]): void {
        const raw: string[] = new Array<string>(rawHeaders.length);
        for (let k = 0; k < rawHeaders.length; k++) raw[k] = rawHeaders[k].toString("latin1");
        this.answerStatus = statusCode;
        this.answerHeaders = raw;
    }

    upstreamData(chunk: Buffer): void {
        this.answerBytes += chunk.length;
        this.i.budget.add(chunk.length);
        this.budgetHeld += chunk.length;
        if (this.answerBytes > this.i.limits.maxResponseBytes) {
            this.fail(502, "replica_response_too_large");
            return;
        }
        this.answerChunks.push(chunk);
    }

    upstreamComplete(): void {
        // The replica finished its answer: its slot is free, whatever the client does next.
        this.live = undefined;
        this.clearScoringTimer();
        this.releaseSlot();
        const { res, requestId } = this.i;
        if (res.destroyed) return;
        const chunks = this.answerChunks;
        const answer = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        this.answerChunks = [];
        try {
            res.writeHead(
                this.answerStatus,
                downstreamResponseHeaders(
                    this.answerHeaders,
                    requestId,
                    answer.length,
                    this.answerStatus,
                ),
            );
        } catch {
            // A header Node refuses to send (invalid characters): the replica's answer is unusable.
            this.fail(502, "replica_bad_headers");
            return;
        }
        this.responding = true;
        res.end(answer);
        if (!res.writableFinished) this.watchSend();
    }

    /** Cuts a client that takes no byte of its answer for `sendIdleTimeoutMs`. */
    private watchSend(): void {
        const socket = this.i.res.socket;
        if (!socket) return;
        // Bytes handed to the kernel (bytesWritten also counts what still waits in Node).
        let last = socket.bytesWritten - socket.writableLength;
        this.sendTimer = setInterval(() => {
            const now = socket.bytesWritten - socket.writableLength;
            if (now !== last || this.i.res.writableFinished) {
                last = now;
                return;
            }
            this.reason ??= "client_stalled";
            this.i.res.destroy();
        }, timerDelay(this.i.limits.sendIdleTimeoutMs));
    }

    upstreamError(attempt: Attempt, err: NodeJS.ErrnoException): void {
        if (this.live !== attempt || this.done || this.reason !== undefined) return;
        this.live = undefined;
        if (attempt.headers) {
            // The replica died mid-answer; nothing reached the client yet, so it gets a clean 502.
            this.fail(502, "replica_reset_mid_response");
            return;
        }
        // Retry only when the request was never written: no connection could be made. Once
        // written, the replica may have read and run it (a scoring call need not be idempotent,
        // and a request that crashed one replica must not crash a second) — nginx's rule for
        // non-idempotent requests. Stale kept-alive connections are avoided instead by closing
        // idle ones sooner than model servers do (upstreamKeepAliveMs).
        const connectPhase = !attempt.connected;
        if (this.attempts < 2 && connectPhase) {
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
     * free the slot and answer `status` (nothing was sent yet: answers go out only when complete).
     */
    private fail(status: number, reason: string, closeConnection = false): void {
        if (this.done || this.reason !== undefined || this.responding) return;
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
        this.answerChunks = [];
        this.i.metrics.rejections.inc({ service: this.i.service, reason });
        if (res.headersSent) {
            res.destroy();
            return;
        }
        const unread = this.hasBody && !this.bodyEnded;
        if (closeConnection) {
            const bodyMayFollow = unread && (!this.expectContinue || this.continueSent);
            if (status === 503) res.setHeader("retry-after", String(limits.retryAfterSeconds));
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
        if (this.sendTimer) clearInterval(this.sendTimer);
        this.sendTimer = undefined;
    }

    /** The single end of every exchange: the response finished, or the connection closed. */
    private readonly onClientClose = (): void => {
        const { res, pool } = this.i;
        let status = this.routerStatus ?? res.statusCode;
        if (!res.writableFinished && this.routerStatus === undefined) {
            this.reason ??= "client_closed";
            // The client saw the status line only if the answer had started to go out.
            if (!this.responding) status = 499;
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
        this.i.budget.give(this.budgetHeld);
        this.budgetHeld = 0;
        this.body = undefined;
        this.bodyChunks.length = 0;
        this.answerChunks = [];
        this.account(status);
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
