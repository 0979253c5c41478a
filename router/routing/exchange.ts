/**
 * One proxied request: read the body, wait for a replica slot, send the request, read the whole
 * answer, give the slot back, then answer the client. Every path out (success, model error,
 * scoring timeout, replica crash, client abort, oversize body, router shutdown) goes through
 * `releaseSlot` once and ends in `onClientClose` once, which hands the request to the router to
 * settle (metrics, access log, observers), so the busy counters the autoscaler reads stay exact
 * (docs/design.md §5, ray#61551). What the exchange learns (replica, attempts, timings, sizes,
 * outcome) goes on its `RouterRequest`.
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
 * Outcomes the exchange produces itself (statuses and messages: router/outcomes.ts):
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
import type { Logger } from "../log";
import type { RouterMetrics } from "../metrics";
import { outcomeStatus, type OutcomeReason } from "../outcomes";
import type { ReplicaState, RejectReason, ServicePool, Ticket } from "./pool";
import type { QueueNode } from "./queue";
import { expectsContinue, type RouterRequest } from "./request";
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
    /** The request, its service resolved; the exchange records what it learns on it. */
    readonly request: RouterRequest;
    readonly pool: ServicePool<Upstream>;
    /** Path on the replica, query string included (`/score?x=1`). */
    readonly upstreamPath: string;
    readonly headers: http.OutgoingHttpHeaders;
    readonly scoringTimeoutMs: number;
    readonly limits: ExchangeLimits;
    readonly budget: BufferBudget;
    readonly metrics: RouterMetrics;
    readonly logger: Logger;
    /** Called once, when the client connection is done; `request.status` is final then. */
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
    readonly request: RouterRequest;
    private readonly i: ExchangeInit;
    /** Slot currently held, released exactly once per grant. */
    private holding: ReplicaSlot | undefined;
    private ticket: Ticket | undefined;
    private enqueuedAt = 0;
    /** performance.now() when the request first went to a replica (0: not yet). */
    private dispatchedAt = 0;
    private live: Attempt | undefined;
    private bodyListening = false;
    private bodyEnded = false;
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
    /** Set once the router chose the answer itself (sent, or to log when the connection was cut). */
    private routerStatus: number | undefined;
    private done = false;

    constructor(init: ExchangeInit) {
        this.i = init;
        this.request = init.request;
    }

    start(): void {
        this.request.res.on("close", this.onClientClose);
        if (this.request.hasBody) this.readBody();
        else this.acquire();
    }

    /** Router shutdown: cut the exchange (called after the drain timeout). */
    abort(): void {
        if (this.responding) {
            this.request.reason ??= "router_shutdown";
            this.request.res.destroy();
            return;
        }
        this.fail("router_shutdown");
    }

    private acquire(): void {
        const { pool } = this.i;
        const replica = pool.tryAcquire();
        if (replica) {
            this.request.queueMs = 0;
            this.dispatch(replica);
            return;
        }
        this.enqueuedAt = performance.now();
        this.ticket = pool.enqueue(this.onGrant, this.onReject);
    }

    private readonly onGrant = (replica: ReplicaSlot): void => {
        this.ticket = undefined;
        this.request.queueMs = performance.now() - this.enqueuedAt;
        if (this.done || this.request.reason !== undefined) {
            this.i.pool.release(replica);
            return;
        }
        this.dispatch(replica);
    };

    private readonly onReject = (reason: RejectReason): void => {
        this.ticket = undefined;
        if (this.enqueuedAt > 0) this.request.queueMs = performance.now() - this.enqueuedAt;
        this.fail(reason === "closed" ? "router_shutdown" : reason);
    };

    private dispatch(replica: ReplicaSlot): void {
        this.holding = replica;
        this.request.replica = replica.id;
        this.request.attempts++;
        // Scoring time is the replica's time: from the slot (body complete) to its whole answer.
        if (this.scoringTimer === undefined) {
            this.dispatchedAt = performance.now();
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
                method: this.request.req.method as Dispatcher.HttpMethod,
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
        const { req } = this.request;
        req.on("data", this.onBodyData);
        req.on("end", this.onBodyEnd);
        this.armIdleTimer();
    }

    private readonly onBodyData = (chunk: Buffer): void => {
        const r = this.request;
        if (r.reason !== undefined) return;
        r.requestBytes += chunk.length;
        if (r.requestBytes > this.i.limits.maxBodyBytes) {
            this.stopBody();
            this.fail("body_too_large", true);
            return;
        }
        if (!this.i.budget.tryTake(chunk.length)) {
            this.stopBody();
            this.fail("buffer_budget_full", true);
            return;
        }
        this.budgetHeld += chunk.length;
        if (this.idleTimer) this.idleTimer.refresh();
        this.bodyChunks.push(chunk);
    };

    private readonly onBodyEnd = (): void => {
        this.bodyEnded = true;
        this.clearIdleTimer();
        if (this.request.reason !== undefined || this.done) return;
        const chunks = this.bodyChunks;
        this.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        chunks.length = 0;
        if (this.request.keepPayloads) this.request.requestBody = this.body;
        this.acquire();
    };

    private stopBody(): void {
        if (!this.bodyListening) return;
        const { req } = this.request;
        req.removeListener("data", this.onBodyData);
        req.removeListener("end", this.onBodyEnd);
    }

    private sendContinue(): void {
        if (!this.continueSent && expectsContinue(this.request.req)) {
            this.continueSent = true;
            this.request.res.writeContinue();
        }
    }

    private armIdleTimer(): void {
        if (this.bodyEnded || this.idleTimer) return;
        this.idleTimer = setTimeout(() => {
            this.idleTimer = undefined;
            if (!this.bodyEnded) {
                this.stopBody();
                this.fail("body_timeout", true);
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
            this.fail("replica_response_too_large");
            return;
        }
        this.answerChunks.push(chunk);
    }

    upstreamComplete(): void {
        // The replica finished its answer: its slot is free, whatever the client does next.
        this.live = undefined;
        this.clearScoringTimer();
        this.releaseSlot();
        const r = this.request;
        r.modelMs = performance.now() - this.dispatchedAt;
        const { res, requestId } = r;
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
            this.fail("replica_bad_headers");
            return;
        }
        this.responding = true;
        r.responseBytes = answer.length;
        if (r.keepPayloads) r.responseBody = answer;
        res.end(answer);
        if (!res.writableFinished) this.watchSend();
    }

    /** Cuts a client that takes no byte of its answer for `sendIdleTimeoutMs`. */
    private watchSend(): void {
        const { res } = this.request;
        const socket = res.socket;
        if (!socket) return;
        // Bytes handed to the kernel (bytesWritten also counts what still waits in Node).
        let last = socket.bytesWritten - socket.writableLength;
        this.sendTimer = setInterval(() => {
            const now = socket.bytesWritten - socket.writableLength;
            if (now !== last || res.writableFinished) {
                last = now;
                return;
            }
            this.request.reason ??= "client_stalled";
            res.destroy();
        }, timerDelay(this.i.limits.sendIdleTimeoutMs));
    }

    upstreamError(attempt: Attempt, err: NodeJS.ErrnoException): void {
        if (this.live !== attempt || this.done || this.request.reason !== undefined) return;
        this.live = undefined;
        if (attempt.headers) {
            // The replica died mid-answer; nothing reached the client yet, so it gets a clean 502.
            this.fail("replica_reset_mid_response");
            return;
        }
        // Retry only when the request was never written: no connection could be made. Once
        // written, the replica may have read and run it (a scoring call need not be idempotent,
        // and a request that crashed one replica must not crash a second) — nginx's rule for
        // non-idempotent requests. Stale kept-alive connections are avoided instead by closing
        // idle ones sooner than model servers do (upstreamKeepAliveMs).
        const connectPhase = !attempt.connected;
        if (this.request.attempts < 2 && connectPhase) {
            this.retry();
            return;
        }
        this.i.logger.debug(
            { requestId: this.request.requestId, replica: this.request.replica, code: err.code },
            "replica request failed",
        );
        this.fail(connectPhase ? "replica_unreachable" : "replica_reset");
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
                this.fail("replica_unreachable");
                return;
            }
        }
        this.i.metrics.retried(this.request.service);
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
        this.fail("scoring_timeout");
    };

    private clearScoringTimer(): void {
        if (this.scoringTimer) clearTimeout(this.scoringTimer);
        this.scoringTimer = undefined;
    }

    /**
     * The router ends the exchange itself: stop the upstream request (the replica sees the abort),
     * free the slot and answer for `reason` (nothing was sent yet: answers go out only when
     * complete). `closeConnection` for 413/408/budget: the rest of the body is not read.
     */
    private fail(reason: OutcomeReason, closeConnection = false): void {
        const r = this.request;
        if (this.done || r.reason !== undefined || this.responding) return;
        const { limits } = this.i;
        r.reason = reason;
        if (this.dispatchedAt > 0) r.modelMs = performance.now() - this.dispatchedAt;
        this.letGo();
        this.answerChunks = [];
        this.i.metrics.rejected(r.service, reason);
        this.routerStatus = r.status = outcomeStatus(reason);
        r.sendOutcome(reason, {
            close: closeConnection,
            continueSent: this.continueSent,
            retryAfterSeconds: limits.retryAfterSeconds,
            lingerMs: limits.lingerMs,
        });
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

    /**
     * Lets go of what the exchange holds on the router's side: its place in the queue, the
     * upstream request, the replica slot and the timers. Safe to call more than once.
     */
    private letGo(): void {
        if (this.ticket) {
            this.i.pool.cancel(this.ticket);
            this.ticket = undefined;
        }
        this.stopUpstream();
        this.releaseSlot();
        this.clearTimers();
    }

    private clearTimers(): void {
        this.clearScoringTimer();
        this.clearIdleTimer();
        if (this.sendTimer) clearInterval(this.sendTimer);
        this.sendTimer = undefined;
    }

    /** The single end of every exchange: the response finished, or the connection closed. */
    private readonly onClientClose = (): void => {
        const r = this.request;
        const res = r.res;
        let status = this.routerStatus ?? res.statusCode;
        if (!res.writableFinished && this.routerStatus === undefined) {
            r.reason ??= "client_closed";
            // The client saw the status line only if the answer had started to go out.
            if (!this.responding) status = outcomeStatus("client_closed");
        }
        r.status = status;
        this.done = true;
        this.letGo();
        this.stopBody();
        this.i.budget.give(this.budgetHeld);
        this.budgetHeld = 0;
        this.body = undefined;
        this.bodyChunks.length = 0;
        this.answerChunks = [];
        this.i.onDone(this);
    };
}
