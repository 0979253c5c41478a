/**
 * A configurable fake model server speaking the AML inference-server contract (aml-v1-spec §5):
 * `GET|POST /score`, `GET /swagger.json`, `GET /` → "Healthy". Tests choose per request how it
 * behaves (delay, status, crash before or in the middle of the answer, hold until released) and
 * read what it saw (concurrency, headers, body bytes, aborted requests).
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface ReplicaBehaviour {
    /** Wait this long (after reading the whole body) before answering. @default 0 */
    readonly delayMs?: number;
    /** Wait until `release()` (after reading the body). @default false */
    readonly hold?: boolean;
    /** @default 200 */
    readonly status?: number;
    /** JSON body; @default an echo of what the replica received */
    readonly body?: unknown;
    /** Add `x-ms-run-function-failed: True` (the model's run() raised). @default false */
    readonly runFailed?: boolean;
    /** `before-response`: close the connection instead of answering; `mid-response`: send part of the body, then close. */
    readonly crash?: "before-response" | "mid-response";
    /** Answer without reading the body at all. @default false */
    readonly skipBody?: boolean;
}

export interface SeenRequest {
    readonly method: string;
    readonly url: string;
    readonly headers: http.IncomingHttpHeaders;
    bodyBytes: number;
    /** The whole body arrived. */
    complete: boolean;
    /** The connection closed before the answer was sent (body cut or client gone). */
    aborted: boolean;
    /** The answer was fully written. */
    answered: boolean;
}

export interface ReplicaServerOptions {
    readonly id?: string;
    readonly behaviour?: ReplicaBehaviour | ((req: http.IncomingMessage) => ReplicaBehaviour);
    readonly swagger?: unknown;
    /** @default 0 (any free port) */
    readonly port?: number;
}

export const DEFAULT_SWAGGER = {
    swagger: "2.0",
    info: { title: "fake-model", version: "1.0" },
    paths: { "/score": { post: { responses: { "200": { description: "ok" } } } } },
};

export class ReplicaServer {
    readonly id: string;
    behaviour: ReplicaBehaviour | ((req: http.IncomingMessage) => ReplicaBehaviour);
    swagger: unknown;
    /** Every /score and /swagger.json request, oldest first. */
    readonly seen: SeenRequest[] = [];
    /** Requests being processed right now. */
    current = 0;
    /** Highest `current` ever observed. */
    maxConcurrent = 0;
    private server: http.Server;
    private held: Array<() => void> = [];
    private waiters: Array<() => void> = [];
    private portNumber = 0;

    private constructor(opts: ReplicaServerOptions) {
        this.id = opts.id ?? "replica";
        this.behaviour = opts.behaviour ?? {};
        this.swagger = opts.swagger ?? DEFAULT_SWAGGER;
        this.server = http.createServer((req, res) => this.handle(req, res));
        this.server.keepAliveTimeout = 30_000;
    }

    static async start(opts: ReplicaServerOptions = {}): Promise<ReplicaServer> {
        const r = new ReplicaServer(opts);
        await new Promise<void>((resolve) => r.server.listen(opts.port ?? 0, "127.0.0.1", resolve));
        r.portNumber = (r.server.address() as AddressInfo).port;
        return r;
    }

    get port(): number {
        return this.portNumber;
    }

    get url(): string {
        return `http://127.0.0.1:${this.portNumber}`;
    }

    /** As a router replica. */
    get replica(): { id: string; url: string } {
        return { id: this.id, url: this.url };
    }

    /** Scoring requests seen (not swagger). */
    get scored(): SeenRequest[] {
        return this.seen.filter((s) => s.url.startsWith("/score"));
    }

    /** Requests currently held (behaviour.hold). */
    get holding(): number {
        return this.held.length;
    }

    /** Lets `n` held requests (default all) answer. */
    release(n = Infinity): void {
        const go = this.held.splice(0, n);
        for (const g of go) g();
    }

    /** Resolves when `predicate()` holds (checked on every change), or rejects after `timeoutMs`. */
    async waitFor(predicate: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        while (!predicate()) {
            if (Date.now() > deadline)
                throw new Error(`replica ${this.id}: timed out waiting for ${what}`);
            await new Promise<void>((resolve) => {
                const t = setTimeout(resolve, 20);
                this.waiters.push(() => {
                    clearTimeout(t);
                    resolve();
                });
            });
        }
    }

    async close(): Promise<void> {
        this.release();
        await new Promise<void>((resolve) => {
            this.server.close(() => resolve());
            this.server.closeAllConnections();
        });
    }

    private changed(): void {
        for (const w of this.waiters.splice(0)) w();
    }

    private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
        const url = req.url ?? "/";
        if (url === "/" && req.method === "GET") {
            res.end("Healthy");
            return;
        }
        const isScore = url === "/score" || url.startsWith("/score?");
        const isSwagger = url === "/swagger.json" || url.startsWith("/swagger.json?");
        if (!isScore && !isSwagger) {
            res.writeHead(404, { "content-type": "application/json" });
            res.end(JSON.stringify({ message: "not found" }));
            return;
        }
        const seen: SeenRequest = {
            method: req.method ?? "",
            url,
            headers: req.headers,
            bodyBytes: 0,
            complete: false,
            aborted: false,
            answered: false,
        };
        this.seen.push(seen);
        this.current++;
        this.maxConcurrent = Math.max(this.maxConcurrent, this.current);
        let finished = false;
        const done = (): void => {
            if (finished) return;
            finished = true;
            this.current--;
            this.changed();
        };
        res.on("close", () => {
            if (!res.writableFinished) seen.aborted = true;
            else seen.answered = true;
            done();
        });
        this.changed();

        const behaviour =
            typeof this.behaviour === "function" ? this.behaviour(req) : this.behaviour;
        const answer = (): void => {
            if (res.destroyed) return;
            if (isSwagger) {
                const text = JSON.stringify(this.swagger);
                res.writeHead(200, { "content-type": "application/json", "x-replica": this.id });
                res.end(text);
                return;
            }
            if (behaviour.crash === "before-response") {
                req.socket.destroy();
                return;
            }
            const status = behaviour.status ?? 200;
            const body = JSON.stringify(
                behaviour.body ?? {
                    replica: this.id,
                    method: req.method,
                    url,
                    bodyBytes: seen.bodyBytes,
                    headers: req.headers,
                },
            );
            const headers: http.OutgoingHttpHeaders = {
                "content-type": "application/json",
                "x-replica": this.id,
                "x-ms-run-fn-exec-ms": "7",
            };
            if (behaviour.runFailed) headers["x-ms-run-function-failed"] = "True";
            if (behaviour.crash === "mid-response") {
                headers["content-length"] = Buffer.byteLength(body) + 1000;
                res.writeHead(status, headers);
                res.write(body, () => setTimeout(() => req.socket.destroy(), 20));
                return;
            }
            headers["content-length"] = Buffer.byteLength(body);
            res.writeHead(status, headers);
            res.end(body);
        };
        const afterBody = (): void => {
            const go = (): void => {
                if (behaviour.delayMs) setTimeout(answer, behaviour.delayMs);
                else answer();
            };
            if (behaviour.hold) {
                this.held.push(go);
                this.changed();
            } else {
                go();
            }
        };
        if (behaviour.skipBody) {
            afterBody();
            return;
        }
        req.on("data", (chunk: Buffer) => {
            seen.bodyBytes += chunk.length;
        });
        req.on("end", () => {
            seen.complete = true;
            this.changed();
            afterBody();
        });
        req.on("error", () => undefined);
    }
}

/** A URL where nothing listens (a port just released). */
export async function deadUrl(): Promise<string> {
    const s = http.createServer();
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return `http://127.0.0.1:${port}`;
}
