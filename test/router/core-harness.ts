/**
 * Shared set-up of the router core tests: a Router + RouterServer on 127.0.0.1 with services
 * backed by fake replicas, and a small HTTP client that does not pool connections (each call is
 * its own connection unless a keep-alive agent is given).
 */
import * as http from "node:http";
import * as net from "node:net";
import { Writable } from "node:stream";
import { Authenticator } from "../../router/auth";
import { silentLogger, type Logger } from "../../router/log";
import { Router, type RouterOptions } from "../../router/router";
import { RouterServer, type ServerLimits, type TlsFiles } from "../../router/server";
import type { Replica, ServiceAuthConfig, ServiceDefinition } from "../../router/types";
import {
    authMode,
    validateWebserviceSettings,
    type WebserviceSettingsInput,
} from "../../components/settings";
import pino from "pino";

export interface ServiceSpec {
    readonly settings: WebserviceSettingsInput;
    readonly replicas?: readonly Replica[];
}

export function definition(settings: WebserviceSettingsInput): ServiceDefinition {
    const s = validateWebserviceSettings(settings);
    const auth: ServiceAuthConfig = {
        mode: authMode(s),
        primaryKey: s.primaryKey,
        secondaryKey: s.secondaryKey,
    };
    return { name: s.name, settings: s, auth };
}

export interface Harness {
    readonly router: Router;
    readonly server: RouterServer;
    /** http://127.0.0.1:port */
    readonly url: string;
    /** Access-log lines written so far (parsed JSON). */
    readonly logs: Array<Record<string, unknown>>;
    close(): Promise<void>;
}

/** Captures pino lines in memory. */
export function memoryLogger(lines: Array<Record<string, unknown>>): Logger {
    const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
            for (const line of chunk.toString("utf8").split("\n")) {
                if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
            }
            cb();
        },
    });
    return pino({ level: "info" }, sink);
}

export async function startHarness(opts: {
    services?: readonly ServiceSpec[];
    router?: RouterOptions;
    limits?: Partial<ServerLimits>;
    httpsPort?: number;
    tls?: TlsFiles;
    captureLogs?: boolean;
}): Promise<Harness> {
    const logs: Array<Record<string, unknown>> = [];
    const logger = opts.captureLogs ? memoryLogger(logs) : silentLogger();
    const router = new Router({
        logger,
        authenticator: new Authenticator(),
        defaultMetrics: false,
        ...opts.router,
    });
    for (const spec of opts.services ?? []) {
        const def = definition(spec.settings);
        router.onService(def);
        router.onReplicas(def.name, spec.replicas ?? []);
    }
    const server = new RouterServer({
        router,
        host: "127.0.0.1",
        httpPort: 0,
        httpsPort: opts.httpsPort,
        tls: opts.tls,
        limits: { connectionsCheckingIntervalMs: 100, ...opts.limits },
    });
    await server.start();
    return {
        router,
        server,
        url: server.httpUrl as string,
        logs,
        close: () => server.close(2000),
    };
}

export interface CallResult {
    readonly status: number;
    readonly headers: http.IncomingHttpHeaders;
    readonly body: string;
}

export interface CallOptions {
    readonly method?: string;
    readonly headers?: http.OutgoingHttpHeaders;
    readonly body?: string | Buffer;
    readonly agent?: http.Agent | false;
}

/** One HTTP request; resolves with status, headers and body text. */
export function call(url: string, opts: CallOptions = {}): Promise<CallResult> {
    return new Promise((resolve, reject) => {
        const req = http.request(
            url,
            { method: opts.method ?? "POST", headers: opts.headers, agent: opts.agent ?? false },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () =>
                    resolve({
                        status: res.statusCode ?? 0,
                        headers: res.headers,
                        body: Buffer.concat(chunks).toString("utf8"),
                    }),
                );
                res.on("error", reject);
            },
        );
        req.on("error", reject);
        req.end(opts.body);
    });
}

/** `POST <url>/api/v1/service/<name>/score` with a JSON body. */
export function score(
    base: string,
    service: string,
    opts: CallOptions & { query?: string } = {},
): Promise<CallResult> {
    const body = opts.body ?? JSON.stringify({ data: [[1, 2, 3]] });
    return call(`${base}/api/v1/service/${service}/score${opts.query ?? ""}`, {
        ...opts,
        body,
        headers: { "content-type": "application/json", ...opts.headers },
    });
}

/** Raw bytes on a fresh connection; resolves with everything the server sent until it closed. */
export function raw(url: string, send: (s: net.Socket) => void): Promise<string> {
    const u = new URL(url);
    return new Promise((resolve) => {
        const s = net.connect(Number(u.port), u.hostname);
        let text = "";
        s.on("data", (d) => (text += d.toString("latin1")));
        s.on("error", () => undefined);
        s.on("close", () => resolve(text));
        s.on("connect", () => send(s));
    });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `predicate()` is true or `timeoutMs` passes. */
export async function eventually(
    predicate: () => boolean,
    timeoutMs = 5000,
    what = "condition",
): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(10);
    }
}

/** Asserts the routing table of `service` holds no slot and no waiter. */
export function countersAtZero(router: Router, service: string): boolean {
    const load = router.load(service);
    return (
        load.inFlight === 0 &&
        load.queued === 0 &&
        load.busyReplicas === 0 &&
        router.replicaStates(service).every((r) => r.inFlight === 0)
    );
}
