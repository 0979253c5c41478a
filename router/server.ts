/**
 * HTTP(S) entry of the router (docs/design.md §5 "URL contract", R6): routes, limits against slow
 * or oversized clients, TLS termination with certificate reload, health and metrics endpoints.
 *
 * Routes: `GET|POST /api/v1/service/<name>/score`, `GET /api/v1/service/<name>/swagger.json`
 * (both handled by the Router), `GET /healthz` (liveness), `GET /readyz` (readiness),
 * `GET /metrics` (Prometheus; on `metricsPort` instead when one is set). With a `metricsPort`, that
 * listener also answers peer routers on `GET ROUTER_PEER_LOAD_PATH` (per-service load for the
 * fleet scaler); the public ports never do, and without a metrics port it is not served at all.
 */
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { basename, dirname } from "node:path";
import { performance } from "node:perf_hooks";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { ROUTER_PEER_LOAD_PATH } from "../components/cluster/router-rbac";
import { peerLoadReport } from "./backends/kubernetes/fleet";
import type { Logger } from "./log";
import type { Router } from "./router";
import { sendError } from "./routing/respond";

/** Protections against slow and oversized clients. */
export interface ServerLimits {
    /** Largest request header block, bytes (431 above). @default 16384 */
    readonly maxHeaderSize: number;
    /** Time to receive the request headers (408 and close). @default 10000 */
    readonly headersTimeoutMs: number;
    /**
     * Time to receive the whole request, body included (408 and close). A 100 MB body must fit:
     * 300 s is also the longest request AML allows on Kubernetes. @default 300000
     */
    readonly requestTimeoutMs: number;
    /** Idle keep-alive connections close after this. @default 65000 */
    readonly keepAliveTimeoutMs: number;
    /** How often Node checks the two timeouts above. @default 1000 */
    readonly connectionsCheckingIntervalMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
    maxHeaderSize: 16 * 1024,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 300_000,
    keepAliveTimeoutMs: 65_000,
    connectionsCheckingIntervalMs: 1000,
};

export interface TlsFiles {
    /** PEM certificate chain; reloaded when the file changes. */
    readonly certFile: string;
    /** PEM private key; reloaded when the file changes. */
    readonly keyFile: string;
}

export interface RouterServerOptions {
    readonly router: Router;
    /** @default "127.0.0.1" */
    readonly host?: string;
    /** Plain HTTP port; 0 picks a free one; null disables HTTP. @default 8080 */
    readonly httpPort?: number | null;
    /** HTTPS port (0 picks a free one); needs `tls`. @default - no HTTPS */
    readonly httpsPort?: number;
    readonly tls?: TlsFiles;
    /** Also poll the TLS files this often, for file systems where watching misses changes. @default 60000 */
    readonly tlsPollIntervalMs?: number;
    /** Serve /metrics on this port only (keeps service names off the public port). @default - main ports */
    readonly metricsPort?: number;
    /** Id in the peer load answer (the pod name on Kubernetes). @default os.hostname() */
    readonly routerId?: string;
    readonly limits?: Partial<ServerLimits>;
    /** @default router.logger */
    readonly logger?: Logger;
}

/** Sockets whose unparsable trailing bytes are ignored until their response is done. */
const closingAfterResponse = new WeakSet<object>();

/** TLS ≥ 1.2 (azureml-fe serves TLS 1.2; 1.3 is allowed too). */
const TLS_MIN_VERSION = "TLSv1.2";

export class RouterServer {
    readonly router: Router;
    private readonly opts: RouterServerOptions;
    private readonly logger: Logger;
    private readonly limits: ServerLimits;
    private httpServer: http.Server | undefined;
    private httpsServer: https.Server | undefined;
    private metricsServer: http.Server | undefined;
    private watchers: FSWatcher[] = [];
    private pollTimer: NodeJS.Timeout | undefined;
    private reloadTimer: NodeJS.Timeout | undefined;
    private tlsMaterial: { cert: string; key: string } | undefined;
    private closing: Promise<void> | undefined;
    /** Successful certificate reloads since start. */
    tlsReloads = 0;

    constructor(opts: RouterServerOptions) {
        this.opts = opts;
        this.router = opts.router;
        this.logger = opts.logger ?? opts.router.logger;
        this.limits = { ...DEFAULT_SERVER_LIMITS, ...opts.limits };
    }

    async start(): Promise<void> {
        const host = this.opts.host ?? "127.0.0.1";
        const serverOptions: http.ServerOptions = {
            maxHeaderSize: this.limits.maxHeaderSize,
            headersTimeout: this.limits.headersTimeoutMs,
            requestTimeout: this.limits.requestTimeoutMs,
            keepAliveTimeout: this.limits.keepAliveTimeoutMs,
            connectionsCheckingInterval: this.limits.connectionsCheckingIntervalMs,
            noDelay: true,
        };
        const metricsOnMain = this.opts.metricsPort === undefined;
        const httpPort = this.opts.httpPort === undefined ? 8080 : this.opts.httpPort;
        if (httpPort !== null) {
            this.httpServer = http.createServer(serverOptions);
            this.wire(this.httpServer, "http", metricsOnMain);
            await listen(this.httpServer, httpPort, host);
        }
        if (this.opts.httpsPort !== undefined) {
            if (!this.opts.tls) throw new Error("httpsPort needs tls.certFile and tls.keyFile");
            const material = await this.readTls();
            createSecureContext({ ...material, minVersion: TLS_MIN_VERSION });
            this.tlsMaterial = material;
            this.httpsServer = https.createServer({
                ...serverOptions,
                ...material,
                minVersion: TLS_MIN_VERSION,
            });
            this.wire(this.httpsServer, "https", metricsOnMain);
            await listen(this.httpsServer, this.opts.httpsPort, host);
            this.watchTls();
        }
        if (this.opts.metricsPort !== undefined) {
            this.metricsServer = http.createServer((req, res) => {
                if (this.servePeerLoad(req, res)) return;
                if (!this.serveOps(req, res, true)) sendError(res, 404, undefined);
            });
            await listen(this.metricsServer, this.opts.metricsPort, host);
        }
        this.logger.info(
            { http: this.httpUrl, https: this.httpsUrl, metrics: this.metricsUrl },
            "router listening",
        );
    }

    get httpUrl(): string | undefined {
        return urlOf(this.httpServer, "http");
    }

    get httpsUrl(): string | undefined {
        return urlOf(this.httpsServer, "https");
    }

    get metricsUrl(): string | undefined {
        return urlOf(this.metricsServer, "http");
    }

    /**
     * Re-reads the certificate and key; applies them to new connections when they form a valid
     * pair, else keeps the current ones (a half-written rotation must not break serving).
     */
    async reloadTls(): Promise<boolean> {
        if (!this.httpsServer || !this.opts.tls) return false;
        let material: { cert: string; key: string };
        try {
            material = await this.readTls();
        } catch (err) {
            this.logger.error(
                { err: (err as Error).message },
                "cannot read TLS files; keeping the current certificate",
            );
            return false;
        }
        if (
            this.tlsMaterial &&
            material.cert === this.tlsMaterial.cert &&
            material.key === this.tlsMaterial.key
        ) {
            return false;
        }
        const options: SecureContextOptions = { ...material, minVersion: TLS_MIN_VERSION };
        try {
            createSecureContext(options);
        } catch (err) {
            // Never log the PEMs; the message of a key/cert mismatch does not contain them.
            this.logger.warn(
                { err: (err as Error).message },
                "new TLS files are not a valid pair yet; keeping the current certificate",
            );
            return false;
        }
        this.httpsServer.setSecureContext(options);
        this.tlsMaterial = material;
        this.tlsReloads++;
        this.logger.info({ certFile: this.opts.tls.certFile }, "TLS certificate reloaded");
        return true;
    }

    /**
     * Stops accepting connections, lets the router serve queued and in-flight requests for up to
     * `drainTimeoutMs`, then closes every connection.
     */
    close(drainTimeoutMs = 30_000): Promise<void> {
        if (this.closing) return this.closing;
        this.closing = (async () => {
            for (const w of this.watchers) w.close();
            this.watchers = [];
            if (this.pollTimer) clearInterval(this.pollTimer);
            if (this.reloadTimer) clearTimeout(this.reloadTimer);
            const servers = [this.httpServer, this.httpsServer].filter(
                (s): s is http.Server => s !== undefined,
            );
            const stopped = servers.map(
                (s) => new Promise<void>((resolve) => s.close(() => resolve())),
            );
            for (const s of servers) s.closeIdleConnections();
            await this.router.close(drainTimeoutMs);
            for (const s of servers) s.closeAllConnections();
            await Promise.all(stopped);
            if (this.metricsServer) {
                const m = this.metricsServer;
                await new Promise<void>((resolve) => {
                    m.close(() => resolve());
                    m.closeAllConnections();
                });
            }
        })();
        return this.closing;
    }

    private wire(server: http.Server, proto: "http" | "https", metricsOnMain: boolean): void {
        const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
            const startedAt = performance.now();
            if (this.router.handle(req, res, { proto, startedAt })) return;
            if (!this.serveOps(req, res, metricsOnMain)) sendError(res, 404, undefined);
        };
        server.on("request", handler);
        // Expect: 100-continue: the router sends 100 only when it starts reading the body, so a
        // client learns about 401/413/503 before uploading (R19).
        server.on("checkContinue", handler);
        server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
            const pending = (socket as unknown as { _httpMessage?: http.ServerResponse })
                ._httpMessage;
            if (pending && !pending.writableFinished && !pending.destroyed) {
                // Bytes after a request (e.g. after `Connection: close`) that do not parse, while
                // that request is still being answered: an error written now would land in front
                // of, or inside, the valid response (issue 15). Finish it, then close.
                pending.shouldKeepAlive = false;
                if (!closingAfterResponse.has(socket)) {
                    closingAfterResponse.add(socket);
                    pending.once("close", () => socket.end());
                }
                return;
            }
            if (!socket.writable || err.code === "ECONNRESET") {
                socket.destroy();
                return;
            }
            const status =
                err.code === "HPE_HEADER_OVERFLOW"
                    ? 431
                    : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
                      ? 408
                      : 400;
            const text =
                status === 431
                    ? "Request header fields too large"
                    : status === 408
                      ? "Request timeout"
                      : "Bad request";
            const body = JSON.stringify({ message: text });
            socket.end(
                `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
            );
        });
        if (proto === "https") {
            server.on("tlsClientError", (err: Error) => {
                this.logger.debug({ err: err.message }, "TLS handshake failed");
            });
        }
    }

    /** Health and metrics endpoints; false when the path is not one of them. */
    private serveOps(
        req: http.IncomingMessage,
        res: http.ServerResponse,
        withMetrics: boolean,
    ): boolean {
        const url = req.url ?? "";
        const q = url.indexOf("?");
        const path = q < 0 ? url : url.slice(0, q);
        if (req.method !== "GET" && req.method !== "HEAD") return false;
        if (path === "/healthz") {
            sendText(res, 200, "ok\n");
            return true;
        }
        if (path === "/readyz") {
            const ready = this.router.ready && !this.closing;
            sendText(res, ready ? 200 : 503, ready ? "ready\n" : "not ready\n");
            return true;
        }
        if (path === "/metrics" && withMetrics && this.router.metrics.recording) {
            const registry = this.router.registry;
            registry.metrics().then(
                (text) => {
                    res.writeHead(200, { "content-type": registry.contentType });
                    res.end(text);
                },
                (err: Error) => {
                    this.logger.error({ err: err.message }, "metrics collection failed");
                    sendError(res, 500, undefined);
                },
            );
            return true;
        }
        return false;
    }

    /** `GET ROUTER_PEER_LOAD_PATH` (metrics listener only): this router's load for its peers. */
    private servePeerLoad(req: http.IncomingMessage, res: http.ServerResponse): boolean {
        const url = req.url ?? "";
        const q = url.indexOf("?");
        if ((q < 0 ? url : url.slice(0, q)) !== ROUTER_PEER_LOAD_PATH || req.method !== "GET") {
            return false;
        }
        const body = JSON.stringify(peerLoadReport(this.router, this.opts.routerId ?? hostname()));
        res.writeHead(200, {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            "cache-control": "no-store",
        });
        res.end(body);
        return true;
    }

    private async readTls(): Promise<{ cert: string; key: string }> {
        const tls = this.opts.tls as TlsFiles;
        const [cert, key] = await Promise.all([
            readFile(tls.certFile, "utf8"),
            readFile(tls.keyFile, "utf8"),
        ]);
        return { cert, key };
    }

    /**
     * Watches the directories (not the files): Kubernetes Secret volumes and most rotation tools
     * replace files by rename, which a file watch would miss.
     */
    private watchTls(): void {
        const tls = this.opts.tls as TlsFiles;
        const schedule = (): void => {
            if (this.reloadTimer) clearTimeout(this.reloadTimer);
            this.reloadTimer = setTimeout(() => void this.reloadTls(), 100);
        };
        const names = new Set([basename(tls.certFile), basename(tls.keyFile), "..data"]);
        for (const dir of new Set([dirname(tls.certFile), dirname(tls.keyFile)])) {
            try {
                const w = watch(dir, (_event, filename) => {
                    if (!filename || names.has(filename.toString())) schedule();
                });
                w.on("error", (err) => this.logger.warn({ err: err.message }, "TLS watch failed"));
                this.watchers.push(w);
            } catch (err) {
                this.logger.warn(
                    { dir, err: (err as Error).message },
                    "cannot watch TLS directory; polling only",
                );
            }
        }
        const poll = this.opts.tlsPollIntervalMs ?? 60_000;
        if (poll > 0) {
            this.pollTimer = setInterval(() => void this.reloadTls(), poll);
            this.pollTimer.unref();
        }
    }
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
    res.writeHead(status, {
        "content-type": "text/plain; charset=utf-8",
        "content-length": Buffer.byteLength(text),
        "cache-control": "no-store",
    });
    res.end(text);
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once("error", onError);
        server.listen(port, host, () => {
            server.removeListener("error", onError);
            resolve();
        });
    });
}

function urlOf(server: http.Server | undefined, scheme: string): string | undefined {
    const addr = server?.address() as AddressInfo | null | undefined;
    if (!addr) return undefined;
    const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    return `${scheme}://${host}:${addr.port}`;
}

/** Creates the server for a router; call `start()`. */
export function createRouterServer(opts: RouterServerOptions): RouterServer {
    return new RouterServer(opts);
}
