/**
 * Local telemetry collectors on 127.0.0.1 for the export tests: an OTLP/HTTP receiver decoding the
 * JSON the OTLP exporter sends (`POST /v1/traces`, `application/json`), and an Application
 * Insights ingestion endpoint decoding the envelopes of the Azure Monitor exporter
 * (`POST /v2.1/track`, a JSON array, gzip accepted; HTTPS, since that exporter turns every
 * `http://` IngestionEndpoint into `https://`). Either can hang (never answer) to play a
 * stalled collector. Every raw body is kept so tests can search it for secrets.
 */
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { selfSignedCert as sharedSelfSignedCert } from "../../support/tls";

/** A self-signed certificate for 127.0.0.1 (test/support/tls.ts); its files are removed. */
export function selfSignedCert(): { cert: string; key: string } {
    const dir = mkdtempSync(join(tmpdir(), "telemetry-tls-"));
    try {
        const { cert, key } = sharedSelfSignedCert({
            dir,
            cn: "127.0.0.1",
            altNames: ["IP:127.0.0.1"],
        });
        return { cert, key };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

export interface ReceivedRequest {
    readonly method: string;
    readonly path: string;
    readonly headers: http.IncomingHttpHeaders;
    /** Decoded (gunzipped) body text. */
    readonly text: string;
}

export interface CollectorOptions {
    /** `hang`: read the request, never answer. @default "ok" */
    readonly mode?: "ok" | "hang";
    /** Serve HTTPS with this certificate. @default - plain HTTP */
    readonly tls?: { readonly cert: string; readonly key: string };
}

export class Collector {
    readonly requests: ReceivedRequest[] = [];
    /** Connections open right now, and the most at once. */
    openConnections = 0;
    maxOpenConnections = 0;
    private readonly sockets = new Set<Socket>();
    private server!: http.Server | https.Server;
    url = "";

    constructor(
        private readonly answer: (req: ReceivedRequest, res: http.ServerResponse) => void,
        private readonly opts: CollectorOptions = {},
    ) {}

    async start(): Promise<this> {
        const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                let body = Buffer.concat(chunks);
                if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
                const r: ReceivedRequest = {
                    method: req.method ?? "",
                    path: req.url ?? "",
                    headers: req.headers,
                    text: body.toString("utf8"),
                };
                this.requests.push(r);
                if (this.opts.mode === "hang") return;
                this.answer(r, res);
            });
        };
        this.server = this.opts.tls
            ? https.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, handler)
            : http.createServer(handler);
        this.server.on(this.opts.tls ? "secureConnection" : "connection", (s: Socket) => {
            this.sockets.add(s);
            this.openConnections++;
            this.maxOpenConnections = Math.max(this.maxOpenConnections, this.openConnections);
            s.on("close", () => {
                this.sockets.delete(s);
                this.openConnections--;
            });
        });
        await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
        const scheme = this.opts.tls ? "https" : "http";
        this.url = `${scheme}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
        return this;
    }

    /** Every body received, as one text (for secret searches). */
    get allText(): string {
        return this.requests.map((r) => `${JSON.stringify(r.headers)}\n${r.text}`).join("\n");
    }

    async close(): Promise<void> {
        for (const s of this.sockets) s.destroy();
        await new Promise<void>((r) => this.server.close(() => r()));
    }
}

/**
 * Records the host of every TCP connection this process opens (plain and TLS sockets both go
 * through `net.Socket.prototype.connect`) until `stop()`; pipes are left out.
 */
export function recordConnections(): { readonly hosts: string[]; stop(): void } {
    const hosts: string[] = [];
    const proto = net.Socket.prototype as unknown as { connect: (...args: unknown[]) => unknown };
    const original = proto.connect;
    proto.connect = function (this: unknown, ...args: unknown[]) {
        // Node normalizes (options, cb) into an array passed as the first argument.
        const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
        if (first && typeof first === "object") {
            const o = first as { host?: string; port?: unknown; path?: string };
            // A pipe has a path and no port (HTTP options carry the URL path too).
            if (o.port !== undefined || o.path === undefined) hosts.push(o.host ?? "localhost");
        } else if (typeof first === "number") {
            hosts.push(typeof args[1] === "string" ? args[1] : "localhost");
        }
        return original.apply(this, args);
    };
    return { hosts, stop: () => (proto.connect = original) };
}

// ---- OTLP/HTTP JSON ----------------------------------------------------------------------------

/** A span as decoded from OTLP JSON, times in epoch milliseconds. */
export interface OtlpSpan {
    readonly resource: Record<string, unknown>;
    readonly traceId: string;
    readonly spanId: string;
    readonly parentSpanId: string;
    readonly name: string;
    /** OTLP SpanKind: 2 server, 3 client. */
    readonly kind: number;
    readonly start: number;
    readonly end: number;
    readonly attributes: Record<string, unknown>;
    readonly events: { name: string; time: number; attributes: Record<string, unknown> }[];
    /** OTLP status code: 0 unset, 1 ok, 2 error. */
    readonly statusCode: number;
}

interface AnyValue {
    stringValue?: string;
    boolValue?: boolean;
    intValue?: number | string;
    doubleValue?: number;
}
interface KeyValue {
    key: string;
    value: AnyValue;
}

function value(v: AnyValue): unknown {
    if (v.stringValue !== undefined) return v.stringValue;
    if (v.boolValue !== undefined) return v.boolValue;
    if (v.intValue !== undefined) return Number(v.intValue);
    if (v.doubleValue !== undefined) return v.doubleValue;
    return undefined;
}

function attrs(list: KeyValue[] | undefined): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const kv of list ?? []) out[kv.key] = value(kv.value);
    return out;
}

const nanosToMs = (n: string | number): number => Number(BigInt(n) / 1000n) / 1000;

/** Decodes one OTLP JSON ExportTraceServiceRequest. */
export function decodeOtlp(text: string): OtlpSpan[] {
    const doc = JSON.parse(text) as {
        resourceSpans: {
            resource?: { attributes?: KeyValue[] };
            scopeSpans: {
                spans: {
                    traceId: string;
                    spanId: string;
                    parentSpanId?: string;
                    name: string;
                    kind: number;
                    startTimeUnixNano: string;
                    endTimeUnixNano: string;
                    attributes?: KeyValue[];
                    events?: { name: string; timeUnixNano: string; attributes?: KeyValue[] }[];
                    status?: { code?: number };
                }[];
            }[];
        }[];
    };
    const out: OtlpSpan[] = [];
    for (const rs of doc.resourceSpans) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
                out.push({
                    resource,
                    traceId: s.traceId,
                    spanId: s.spanId,
                    parentSpanId: s.parentSpanId ?? "",
                    name: s.name,
                    kind: s.kind,
                    start: nanosToMs(s.startTimeUnixNano),
                    end: nanosToMs(s.endTimeUnixNano),
                    attributes: attrs(s.attributes),
                    events: (s.events ?? []).map((e) => ({
                        name: e.name,
                        time: nanosToMs(e.timeUnixNano),
                        attributes: attrs(e.attributes),
                    })),
                    statusCode: s.status?.code ?? 0,
                });
            }
        }
    }
    return out;
}

export class OtlpReceiver extends Collector {
    constructor(opts: CollectorOptions = {}) {
        super((_req, res) => {
            res.writeHead(200, { "content-type": "application/json" });
            res.end("{}");
        }, opts);
    }

    /** Traces URL (what `OTEL_EXPORTER_OTLP_ENDPOINT=<url>` resolves to). */
    get tracesUrl(): string {
        return `${this.url}/v1/traces`;
    }

    spans(): OtlpSpan[] {
        return this.requests
            .filter((r) => r.path === "/v1/traces")
            .flatMap((r) => decodeOtlp(r.text));
    }
}

// ---- Application Insights ingestion (Breeze) -----------------------------------------------------

export interface Envelope {
    readonly name: string;
    readonly time: string;
    readonly iKey?: string;
    readonly instrumentationKey?: string;
    readonly tags: Record<string, string>;
    readonly data: {
        baseType: string;
        baseData: Record<string, unknown> & { properties?: Record<string, string> };
    };
}

export class BreezeReceiver extends Collector {
    constructor(opts: CollectorOptions = {}) {
        super((req, res) => {
            const n = (JSON.parse(req.text) as unknown[]).length;
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify({ itemsReceived: n, itemsAccepted: n, errors: [] }));
        }, opts);
    }

    /** `IngestionEndpoint` pointing here. */
    connectionString(instrumentationKey: string): string {
        return `InstrumentationKey=${instrumentationKey};IngestionEndpoint=${this.url}/`;
    }

    envelopes(): Envelope[] {
        return this.requests
            .filter((r) => /\/v2(\.1)?\/track$/.test(r.path))
            .flatMap((r) => JSON.parse(r.text) as Envelope[]);
    }
}
