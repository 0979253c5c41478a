/**
 * The routing core of the azureml-fe equivalent (docs/design.md §5): the service table fed by a
 * backend (BackendListener), the load view read by the autoscaler (RoutingControl), and the
 * handling of `/api/v1/service/<name>/score` and `/swagger.json` requests: auth, queueing,
 * forwarding.
 *
 * Unknown services and auth (the "no hint" rule): a caller without a credential that some service
 * accepts cannot tell an unknown service from a protected one. Such a request to an unknown name
 * is answered exactly like a key-auth service answers a bad key (the same Authenticator call on a
 * decoy key config, so status, WWW-Authenticate and body are identical). Only a caller whose
 * credential is valid for at least one protected service — or any caller when no service is
 * protected, since then nothing is hidden — sees 404.
 */
import { randomBytes } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { SERVICE_NAME_PATTERN } from "../components/settings";
import { timerDelay } from "./timers";
import { accessLog, createLogger, type AccessLog, type Logger } from "./log";
import { RouterMetrics, UNKNOWN_SERVICE_LABEL } from "./metrics";
import type { ExchangeObserver } from "./observe";
import { outcomeStatus, type OutcomeReason } from "./outcomes";
import {
    BufferBudget,
    Exchange,
    createUpstream,
    disposeUpstream,
    type ExchangeLimits,
    type Upstream,
    type UpstreamOptions,
} from "./routing/exchange";
import {
    MAX_REQUEST_HEADERS,
    requestHeadProblem,
    requestIdFrom,
    upstreamHeaderCount,
    upstreamRequestHeaders,
} from "./routing/headers";
import { ServicePool, defaultQueueLimit } from "./routing/pool";
import { LinkedQueue } from "./routing/queue";
import { RouterRequest } from "./routing/request";
import type {
    BackendListener,
    Replica,
    RoutingControl,
    ServiceAuthConfig,
    ServiceDefinition,
    ServiceLoad,
} from "./types";

/** R19: request bodies up to 100 MB (MiB, as nginx's `client_max_body_size 100m`). */
export const MAX_BODY_BYTES = 100 * 1024 * 1024;
/** Least time observers get to flush on close, even when the drain used up its time. */
const MIN_OBSERVER_CLOSE_MS = 1000;
/** See RouterOptions.maxBufferedBytes. */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024 * 1024;

/** Result of an auth check (contract of `router/auth`). */
export interface AuthResult {
    ok: boolean;
    /** Value for WWW-Authenticate on 401. */
    challenge?: string;
}

/** What the router needs from the auth module (`router/auth` Authenticator satisfies it). */
export interface RequestAuthenticator {
    authenticate(
        auth: ServiceAuthConfig,
        headers: IncomingHttpHeaders,
        service: string,
    ): Promise<AuthResult>;
    close?(): void;
}

export interface RouterOptions {
    /** @default createLogger() (JSON to stdout) */
    readonly logger?: Logger;
    /**
     * Checks credentials of services in key or token mode. Required as soon as such a service
     * is registered (`startRouter` passes the `router/auth` Authenticator).
     */
    readonly authenticator?: RequestAuthenticator;
    /** Largest request body, bytes (R19). @default 104857600 (100 MiB) */
    readonly maxBodyBytes?: number;
    /** Queue bound per service. @default max(100, 10 × concurrency × ready replicas) */
    readonly queueLimit?: (concurrency: number, readyReplicas: number) => number;
    /** Retry-After on 503. @default 1 */
    readonly retryAfterSeconds?: number;
    /**
     * Bytes of request bodies and replica answers the router may hold at once, across requests
     * (routing/exchange.ts: bodies are read whole before a slot is taken, answers before the
     * client gets them). A body that would pass it gets 503 + Retry-After. @default 268435456
     * (256 MiB: two bodies at the 100 MiB limit plus room, within azureml-fe's 1.2 GB pod)
     */
    readonly maxBufferedBytes?: number;
    /** Largest answer read from a replica (502 above). @default maxBodyBytes */
    readonly maxResponseBytes?: number;
    /** A client that takes no byte of its answer for this long is cut. @default 30000 */
    readonly sendIdleTimeoutMs?: number;
    /** Connecting to a replica longer than this counts as a connection failure. @default 1000 */
    readonly connectTimeoutMs?: number;
    /** A client that sends no body byte for this long gets 408. @default 30000 */
    readonly bodyIdleTimeoutMs?: number;
    /** After a 413/408, how long the rest of the body is read and dropped before closing. @default 1000 */
    readonly lingerMs?: number;
    /**
     * A replica that refused a connection gets no new request for this long, unless the backend
     * reports it again sooner by removing it. @default 1000
     */
    readonly ejectMs?: number;
    /**
     * One JSON line per request; `"failures"`: only the lines of failed requests (5xx but 503,
     * logged at warn), so the others cost nothing (`amlaks serve` without `--access-log`).
     * @default true
     */
    readonly accessLog?: boolean | "failures";
    /** Node process metrics in the registry. @default true */
    readonly defaultMetrics?: boolean;
    /** Per-request metrics and the /metrics endpoint; false turns both off. @default true */
    readonly metrics?: boolean;
    /** Idle kept-alive connections to a replica close after this. @default 1500 */
    readonly upstreamKeepAliveMs?: number;
    /** Initial readiness (`/readyz`); `startRouter` sets it once the backend synced. @default true */
    readonly ready?: boolean;
    /**
     * Told about every finished request (router/observe.ts): data collection, telemetry export.
     * Closed on `close()` after the drain. @default []
     */
    readonly observers?: readonly ExchangeObserver[];
}

/** How the server hands a request to the router. */
export interface RequestContext {
    readonly proto: "http" | "https";
    /** performance.now() when the request arrived. */
    readonly startedAt: number;
}

interface ServiceEntry {
    definition: ServiceDefinition | undefined;
    readonly pool: ServicePool<Upstream>;
}

const SERVICE_PREFIX = "/api/v1/service/";

export class Router implements BackendListener, RoutingControl {
    readonly logger: Logger;
    readonly metrics: RouterMetrics;
    private readonly authenticator: RequestAuthenticator | undefined;
    private readonly limits: ExchangeLimits;
    private readonly budget: BufferBudget;
    private readonly queueLimit: (concurrency: number, ready: number) => number;
    private readonly upstreamOptions: UpstreamOptions;
    /** Where access lines go (router/log.ts accessLog); undefined when access logs are off. */
    private readonly accessLog: AccessLog | undefined;
    private readonly observers: readonly ExchangeObserver[];
    /** Observers that threw already (logged once each). */
    private readonly observersLogged = new WeakSet<ExchangeObserver>();
    private observersClosed = false;
    /** Requests handled and not yet settled (close() waits for them before closing observers). */
    private unsettled = 0;
    private whenSettled: (() => void) | undefined;
    private readonly entries = new Map<string, ServiceEntry>();
    /**
     * Exchanges in progress (cut on shutdown). A linked list, not a Set: add/delete churn on a
     * long-lived Set kept every finished exchange reachable until the next full GC, which made
     * each young-generation GC copy megabytes (5–8 ms pauses at 2,000 rps).
     */
    private readonly exchanges = new LinkedQueue<Exchange>();
    /** Never a real key: lets unknown services fail auth exactly like a key-auth service. */
    private readonly decoyAuth: ServiceAuthConfig;
    private readyFlag: boolean;
    private closing = false;
    private closed: Promise<void> | undefined;

    constructor(opts: RouterOptions = {}) {
        this.logger = opts.logger ?? createLogger();
        this.authenticator = opts.authenticator;
        const maxBodyBytes = opts.maxBodyBytes ?? MAX_BODY_BYTES;
        this.limits = {
            maxBodyBytes,
            maxResponseBytes: opts.maxResponseBytes ?? maxBodyBytes,
            bodyIdleTimeoutMs: opts.bodyIdleTimeoutMs ?? 30_000,
            sendIdleTimeoutMs: opts.sendIdleTimeoutMs ?? 30_000,
            retryAfterSeconds: opts.retryAfterSeconds ?? 1,
            lingerMs: opts.lingerMs ?? 1000,
            ejectMs: opts.ejectMs ?? 1000,
        };
        this.budget = new BufferBudget(opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES);
        this.queueLimit = opts.queueLimit ?? defaultQueueLimit();
        this.upstreamOptions = {
            connectTimeoutMs: opts.connectTimeoutMs ?? 1000,
            keepAliveTimeoutMs: opts.upstreamKeepAliveMs ?? 1500,
        };
        this.accessLog =
            opts.accessLog === false
                ? undefined
                : accessLog(this.logger, opts.accessLog === "failures" ? "warn" : undefined);
        this.observers = [...(opts.observers ?? [])];
        this.readyFlag = opts.ready ?? true;
        this.decoyAuth = {
            mode: "key",
            primaryKey: randomBytes(32).toString("base64url"),
            secondaryKey: randomBytes(32).toString("base64url"),
        };
        this.metrics = new RouterMetrics({
            loads: () => this.loads(),
            defaultMetrics: opts.defaultMetrics,
            recording: opts.metrics,
        });
    }

    /** Prometheus registry of this router; the autoscaler adds its metrics here. */
    get registry(): RouterMetrics["registry"] {
        return this.metrics.registry;
    }

    /** `/readyz`: true once started and synced, false while closing. */
    get ready(): boolean {
        return this.readyFlag && !this.closing;
    }

    setReady(ready: boolean): void {
        this.readyFlag = ready;
    }

    get isClosing(): boolean {
        return this.closing;
    }

    // ---- BackendListener -------------------------------------------------------------------

    onService(definition: ServiceDefinition): void {
        const entry = this.entry(definition.name);
        const s = definition.settings;
        if (definition.auth.mode !== "none" && !this.authenticator) {
            this.logger.error(
                { service: definition.name, mode: definition.auth.mode },
                "service needs auth but the router has no authenticator; requests will get 401",
            );
        }
        entry.definition = definition;
        entry.pool.configure(s.replicaMaxConcurrentRequests, s.maxRequestWaitTime);
        this.logger.info(
            {
                service: definition.name,
                authMode: definition.auth.mode,
                concurrency: s.replicaMaxConcurrentRequests,
                maxRequestWaitTime: s.maxRequestWaitTime,
                scoringTimeoutMs: s.scoringTimeoutMs,
            },
            "service updated",
        );
    }

    onServiceRemoved(name: string): void {
        const entry = this.entries.get(name);
        if (!entry) return;
        this.entries.delete(name);
        // Queued requests get 503; in-flight ones finish on their replicas, then agents close.
        entry.pool.close();
        entry.pool.setReplicas([]);
        this.logger.info({ service: name }, "service removed");
    }

    onReplicas(service: string, replicas: readonly Replica[]): void {
        const valid: Replica[] = [];
        for (const r of replicas) {
            try {
                const u = new URL(r.url);
                if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("protocol");
                valid.push(r);
            } catch {
                this.logger.error(
                    { service, replica: r.id, url: r.url },
                    "ignoring replica with a bad URL",
                );
            }
        }
        this.entry(service).pool.setReplicas(valid);
        this.logger.debug({ service, replicas: valid.map((r) => r.id) }, "replicas updated");
    }

    // ---- RoutingControl --------------------------------------------------------------------

    load(service: string): ServiceLoad {
        const entry = this.entries.get(service);
        return entry
            ? entry.pool.load()
            : { readyReplicas: 0, busyReplicas: 0, inFlight: 0, queued: 0 };
    }

    pickVictims(service: string, count: number): string[] {
        return this.entries.get(service)?.pool.pickVictims(count) ?? [];
    }

    drain(service: string, replicaId: string, timeoutMs: number): Promise<void> {
        const entry = this.entries.get(service);
        return entry ? entry.pool.drain(replicaId, timeoutMs) : Promise.resolve();
    }

    /** Puts a drained replica back in rotation (not part of RoutingControl). */
    undrain(service: string, replicaId: string): boolean {
        return this.entries.get(service)?.pool.undrain(replicaId) ?? false;
    }

    /** Known services (with a definition). */
    services(): string[] {
        return [...this.entries].filter(([, e]) => e.definition).map(([name]) => name);
    }

    /** Bytes of bodies and answers held right now (RouterOptions.maxBufferedBytes). */
    get bufferedBytes(): number {
        return this.budget.used;
    }

    /** Replica states of a service, for diagnostics and tests. */
    replicaStates(service: string): ReturnType<ServicePool<Upstream>["replicas"]> {
        return this.entries.get(service)?.pool.replicas() ?? [];
    }

    // ---- HTTP ------------------------------------------------------------------------------

    /**
     * Handles `/api/v1/service/...` requests; returns false for other paths (left to the server).
     */
    handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): boolean {
        const url = req.url ?? "";
        if (!url.startsWith(SERVICE_PREFIX)) return false;
        const q = url.indexOf("?");
        const path = q < 0 ? url : url.slice(0, q);
        const search = q < 0 ? "" : url.slice(q);
        const rest = path.slice(SERVICE_PREFIX.length);
        const slash = rest.indexOf("/");
        const name = slash < 0 ? rest : rest.slice(0, slash);
        const op = slash < 0 ? "" : rest.slice(slash + 1);
        const r = new RouterRequest(
            req,
            res,
            requestIdFrom(req.headers),
            ctx.startedAt,
            ctx.proto,
            path,
        );
        this.unsettled++;
        if (this.closing) res.shouldKeepAlive = false;
        // Known service: its name labels even the answers given before auth (413, 405...).
        const entry = SERVICE_NAME_PATTERN.test(name) ? this.entries.get(name) : undefined;
        const definition = entry?.definition;
        if (definition) r.resolve(definition);

        if (op !== "score" && op !== "swagger.json") {
            this.answer(r, "no_route");
            return true;
        }
        const method = req.method ?? "";
        const allowed = op === "score" ? method === "POST" || method === "GET" : method === "GET";
        if (!allowed) {
            // AML routes only POST and GET to the model (aml-v1-spec §5).
            this.answer(r, "method", { headers: { allow: op === "score" ? "GET, POST" : "GET" } });
            return true;
        }
        // Limits of the head, before auth (they are no secret) and before anything is forwarded.
        const head = requestHeadProblem(req.rawHeaders);
        if (head) {
            this.answer(r, head.reason, { message: head.message });
            return true;
        }
        const cl = req.headers["content-length"];
        if (cl !== undefined && Number(cl) > this.limits.maxBodyBytes) {
            // R19, before reading anything (and before auth: the limit is no secret).
            this.answer(r, "body_too_large", { close: true });
            return true;
        }
        if (!entry || !definition) {
            void this.unknownService(r, name);
            return true;
        }
        if (definition.auth.mode === "none") {
            this.forward(r, entry, definition, op, search);
            return true;
        }
        void this.authenticateThenForward(r, entry, definition, op, search);
        return true;
    }

    private async authenticateThenForward(
        r: RouterRequest,
        entry: ServiceEntry,
        definition: ServiceDefinition,
        op: string,
        search: string,
    ): Promise<void> {
        const result = await this.check(definition.auth, r.req.headers, definition.name);
        if (r.res.destroyed || r.res.headersSent) {
            this.clientClosed(r);
            return;
        }
        if (!result.ok) {
            this.unauthorized(r, result.challenge);
            return;
        }
        // The definition may have changed (or the service gone) while auth ran: use the current one.
        if (this.entries.get(definition.name) !== entry || !entry.definition) {
            void this.unknownService(r, definition.name);
            return;
        }
        r.resolve(entry.definition);
        this.forward(r, entry, entry.definition, op, search);
    }

    private forward(
        r: RouterRequest,
        entry: ServiceEntry,
        definition: ServiceDefinition,
        op: string,
        search: string,
    ): void {
        const { req } = r;
        const headers = upstreamRequestHeaders(req.headers, {
            requestId: r.requestId,
            clientIp: req.socket.remoteAddress,
            proto: r.proto,
        });
        if (upstreamHeaderCount(headers) > MAX_REQUEST_HEADERS) {
            // Within the client limit, but not with the router's own headers added.
            this.answer(r, "too_many_headers", {
                message: `Too many request header fields: with the ones the router adds, the model server would get more than ${MAX_REQUEST_HEADERS}`,
            });
            return;
        }
        // The path logged is the route, not the client's text (known service, known op).
        r.path = `${SERVICE_PREFIX}${definition.name}/${op}`;
        if (this.observers.length > 0) r.keepPayloads = this.wantsPayloads(definition);
        const exchange = new Exchange({
            request: r,
            pool: entry.pool,
            upstreamPath: (op === "score" ? "/score" : "/swagger.json") + search,
            headers,
            scoringTimeoutMs: definition.settings.scoringTimeoutMs,
            limits: this.limits,
            budget: this.budget,
            metrics: this.metrics,
            logger: this.logger,
            onDone: this.onExchangeDone,
        });
        exchange.listNode = this.exchanges.push(exchange);
        exchange.start();
    }

    private readonly onExchangeDone = (exchange: Exchange): void => {
        if (exchange.listNode) this.exchanges.remove(exchange.listNode);
        exchange.listNode = undefined;
        this.settle(exchange.request);
    };

    private async check(
        auth: ServiceAuthConfig,
        headers: IncomingHttpHeaders,
        service: string,
    ): Promise<AuthResult> {
        if (!this.authenticator) return { ok: false };
        try {
            return await this.authenticator.authenticate(auth, headers, service);
        } catch (err) {
            // A bug or an outage in auth must not let requests through, nor say why they failed.
            this.logger.error({ service, err: (err as Error).message }, "authenticator failed");
            return { ok: false };
        }
    }

    /** See the module comment: 404 only for callers that prove they hold some valid credential. */
    private async unknownService(r: RouterRequest, name: string): Promise<void> {
        const { req } = r;
        // Logged and counted under the bounded "(unknown)" label, whatever the name.
        r.definition = undefined;
        r.service = UNKNOWN_SERVICE_LABEL;
        const protectedServices = [...this.entries.values()]
            .map((e) => e.definition)
            .filter((d): d is ServiceDefinition => d !== undefined && d.auth.mode !== "none");
        let reveal = protectedServices.length === 0;
        if (!reveal && req.headers.authorization !== undefined) {
            for (const d of protectedServices) {
                if ((await this.check(d.auth, req.headers, d.name)).ok) {
                    reveal = true;
                    break;
                }
            }
        }
        let challenge: string | undefined;
        if (!reveal) {
            const shown = SERVICE_NAME_PATTERN.test(name) ? name : UNKNOWN_SERVICE_LABEL;
            challenge = (await this.check(this.decoyAuth, req.headers, shown)).challenge;
        }
        if (r.res.destroyed || r.res.headersSent) {
            this.clientClosed(r);
            return;
        }
        if (reveal) this.answer(r, "unknown_service");
        else this.unauthorized(r, challenge);
    }

    private unauthorized(r: RouterRequest, challenge: string | undefined): void {
        this.answer(r, "unauthorized", { headers: { "www-authenticate": challenge ?? "Bearer" } });
    }

    /** The client left while auth ran: nothing is sent. */
    private clientClosed(r: RouterRequest): void {
        r.reason = "client_closed";
        r.status = outcomeStatus("client_closed");
        this.settle(r);
    }

    /** The router answers without a replica; a body the client may still send is not read. */
    private answer(
        r: RouterRequest,
        reason: OutcomeReason,
        opts?: { message?: string; headers?: Record<string, string>; close?: boolean },
    ): void {
        r.reason = reason;
        r.status = outcomeStatus(reason);
        r.sendOutcome(reason, {
            ...opts,
            retryAfterSeconds: this.limits.retryAfterSeconds,
            lingerMs: this.limits.lingerMs,
        });
        this.metrics.rejected(r.service, reason);
        r.res.once("close", () => this.settle(r));
    }

    /**
     * The single end of every request the router handled (its own answers, exchanges, clients
     * gone during auth): metrics, the access log line and the observers, once.
     */
    private settle(r: RouterRequest): void {
        this.unsettled--;
        const durationMs = performance.now() - r.startedAt;
        this.metrics.settled(r, durationMs);
        this.accessLog?.write(r, durationMs);
        if (this.observers.length > 0) this.notify(r, durationMs);
        if (this.unsettled === 0) this.whenSettled?.();
    }

    /** Whether some observer wants the bodies of this request; each is asked once per request. */
    private wantsPayloads(definition: ServiceDefinition): boolean {
        let wanted = false;
        for (const o of this.observers) {
            try {
                if (o.wantsPayloads?.(definition)) wanted = true;
            } catch (err) {
                this.observerFailed(o, err);
            }
        }
        return wanted;
    }

    private notify(r: RouterRequest, durationMs: number): void {
        if (this.observersClosed) return;
        const record = r.record(durationMs);
        for (const o of this.observers) {
            try {
                o.onExchange(record);
            } catch (err) {
                this.observerFailed(o, err);
            }
        }
    }

    /** Counted every time; logged the first time per observer (a broken one would flood logs). */
    private observerFailed(o: ExchangeObserver, err: unknown): void {
        this.metrics.observerErrors.inc();
        if (this.observersLogged.has(o)) return;
        this.observersLogged.add(o);
        this.logger.warn(
            { err: (err as Error)?.message ?? String(err), observer: o.constructor?.name },
            "exchange observer threw; counted in amlaks_router_observer_errors_total",
        );
    }

    // ---- shutdown --------------------------------------------------------------------------

    /**
     * Graceful stop (docs/design.md §5 "No request is lost"): readiness goes false, queued and
     * in-flight requests are served for up to `timeoutMs`, then whatever remains is cut (503 for
     * queued requests), agents close and the authenticator is released. The HTTP listener is the
     * server's business (`RouterServer.close` calls this).
     */
    close(timeoutMs = 30_000): Promise<void> {
        if (this.closed) return this.closed;
        this.closing = true;
        this.closed = (async () => {
            const pools = [...this.entries.values()].map((e) => e.pool);
            const deadline = Date.now() + timeoutMs;
            await Promise.all(pools.map((p) => p.whenIdle(Math.max(0, deadline - Date.now()))));
            for (const p of pools) p.close();
            for (const ex of this.exchanges.values()) ex.abort();
            for (const p of pools) p.dispose();
            this.authenticator?.close?.();
            if (this.observers.length > 0) {
                // Cut exchanges and lingering answers settle within lingerMs: their records
                // still reach the observers, which then flush within what is left of the drain.
                await this.settledOrAfter(
                    Math.max(deadline - Date.now(), this.limits.lingerMs + 250),
                );
                await this.closeObservers(Math.max(deadline - Date.now(), MIN_OBSERVER_CLOSE_MS));
            }
            this.logger.info("router closed");
        })();
        return this.closed;
    }

    private settledOrAfter(ms: number): Promise<void> {
        if (this.unsettled <= 0) return Promise.resolve();
        return new Promise((resolve) => {
            const timer = setTimeout(done, timerDelay(ms));
            function done(): void {
                clearTimeout(timer);
                resolve();
            }
            this.whenSettled = done;
        });
    }

    /** Closes every observer, waiting at most `ms`; a failing close is logged and counted. */
    private async closeObservers(ms: number): Promise<void> {
        this.observersClosed = true;
        let timer: NodeJS.Timeout | undefined;
        const all = Promise.all(
            this.observers.map(async (o) => {
                try {
                    await o.close?.();
                } catch (err) {
                    this.observerFailed(o, err);
                }
            }),
        );
        const late = new Promise<"late">((resolve) => {
            timer = setTimeout(() => resolve("late"), timerDelay(ms));
        });
        if ((await Promise.race([all, late])) === "late") {
            this.logger.warn({ waitedMs: ms }, "exchange observers did not close in time");
        }
        clearTimeout(timer);
    }

    private entry(name: string): ServiceEntry {
        let entry = this.entries.get(name);
        if (!entry) {
            const upstreamOptions = this.upstreamOptions;
            entry = {
                definition: undefined,
                pool: new ServicePool<Upstream>({
                    concurrency: 1,
                    maxWaitMs: 500,
                    queueLimit: this.queueLimit,
                    createUpstream: (r) => createUpstream(r.url, upstreamOptions),
                    disposeUpstream,
                }),
            };
            this.entries.set(name, entry);
        }
        return entry;
    }

    private *loads(): Iterable<readonly [string, ServiceLoad]> {
        for (const [name, entry] of this.entries) {
            if (entry.definition) yield [name, entry.pool.load()] as const;
        }
    }
}
