/**
 * Router proxy benchmark (run by hand; prints numbers, asserts nothing):
 *
 *   npx tsx bench/router-proxy.ts [--duration 10] [--repeat 3] [--skip-body] [--only-rates]
 *
 * Needs Debian `wrk` and `nginx-light` (and `taskset`, util-linux). On loopback:
 * - a no-op replica (an nginx `return 200`, the cheapest server at hand, so the proxies are what
 *   is measured; a Node replica that discards bodies for the 100 MB test);
 * - targets: the replica directly, the router (this repo), nginx as a plain reverse proxy
 *   (`proxy_http_version 1.1`, upstream keepalive, 1 worker), and two 20-line Node proxies
 *   (node:http keep-alive agent vs undici Pool) that isolate the transport choice;
 * - fixed loads of 500 and 2,000 rps with 16 connections: wrk with a Lua `delay()` per request,
 *   uniform in [0, 2 × 16/rate] so arrivals are spread like independent clients (wrk2 is not in
 *   Debian; a constant delay makes all 16 connections fire together, and those bursts, not the
 *   proxy, then dominate every percentile). Far below capacity this closed loop behaves like an
 *   open loop; the achieved rate is printed;
 * - max throughput: wrk, 16 connections, no delay; each proxy pinned alone on CPU 1 (one process
 *   per proxy), wrk and the replica on CPU 0;
 * - RSS growth of the router process while it proxies a 100 MiB body (peak RSS, VmHWM, reset
 *   before the upload);
 * - Application Insights export (router/telemetry): targets `router (app insights)` (Azure
 *   Monitor exporter) and `router (otlp)` are the `router` target with `enableAppInsights` on,
 *   exporting every request to a local sink (HTTPS ingestion endpoint / OTLP/HTTP) pinned on
 *   CPU 0; compare them with `router`, e.g.
 *   `BENCH_RATE_TARGETS="direct,router,router (app insights),router (otlp)"`. The sink's counts
 *   are printed at the end (every span exported, or dropped and counted).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuMicros, freePort, nginxConfig, pinned, runWrk, startNodeChild, wrkScript } from "./lib";
import { Pool } from "undici";
import type { ExchangeObserver } from "../router/observe";

const args = process.argv.slice(2);
const mode = args[0] && !args[0].startsWith("--") ? args[0] : "main";

// ---- children ------------------------------------------------------------------------------

/** The telemetry observer of a child router: `otlp` or `azure-monitor`, targets from the env. */
async function benchTelemetry(kind: string): Promise<ExchangeObserver> {
    const { TelemetryObserver } = await import("../router/telemetry");
    const ca = process.env.BENCH_AI_CA_FILE;
    return new TelemetryObserver({
        destinations: [
            kind === "otlp"
                ? { kind: "otlp", url: process.env.BENCH_OTLP_URL as string }
                : {
                      kind: "azure-monitor",
                      connectionString: process.env.BENCH_AI_CONNECTION_STRING as string,
                  },
        ],
        azureMonitorOptions: ca ? { tlsOptions: { ca: readFileSync(ca, "utf8") } } : {},
    });
}

async function childRouter(
    port: number,
    fastReplica: string,
    bodyReplica: string,
    log: boolean,
    telemetry?: string,
): Promise<void> {
    const { Router } = await import("../router/router");
    const { RouterServer } = await import("../router/server");
    const { Authenticator } = await import("../router/auth");
    const { validateWebserviceSettings, authMode } = await import("../components/settings");
    const pino = (await import("pino")).default;
    const logger = pino({ level: "info" }, pino.destination({ dest: "/dev/null", sync: true }));
    const router = new Router({
        logger,
        authenticator: new Authenticator(),
        accessLog: log,
        defaultMetrics: process.env.BENCH_DEFAULT_METRICS !== "0",
        observers: telemetry ? [await benchTelemetry(telemetry)] : [],
    });
    const add = (name: string, url: string, extra: Record<string, unknown>): void => {
        // Concurrency well above the 16 connections: the proxy overhead is measured, not queueing.
        const settings = validateWebserviceSettings({
            name,
            replicaMaxConcurrentRequests: 64,
            maxRequestWaitTime: 5000,
            ...extra,
        });
        router.onService({
            name,
            settings,
            auth: {
                mode: authMode(settings),
                primaryKey: settings.primaryKey,
                secondaryKey: settings.secondaryKey,
            },
        });
        router.onReplicas(name, [{ id: `${name}-0`, url }]);
    };
    add("bench", fastReplica, { authEnabled: false, enableAppInsights: telemetry !== undefined });
    add("bench-key", fastReplica, {
        authEnabled: true,
        primaryKey: "bench-key-0123456789abcdef0123456789",
    });
    add("big", bodyReplica, { authEnabled: false, scoringTimeoutMs: 300_000 });
    const server = new RouterServer({ router, host: "127.0.0.1", httpPort: port });
    await server.start();
    process.send?.("ready");
}

/**
 * The telemetry sink: an OTLP/HTTP receiver (plain) and an Application Insights ingestion
 * endpoint (HTTPS: the exporter always uses it), both answering at once; `GET /stats` on the
 * plain port returns what arrived.
 */
function childTelemetrySink(httpPort: number, httpsPort: number, cert: string, key: string): void {
    const stats = { otlpRequests: 0, otlpSpans: 0, trackRequests: 0, envelopes: 0 };
    const read = (req: http.IncomingMessage, done: (body: string) => void): void => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => done(Buffer.concat(chunks).toString("utf8")));
    };
    http.createServer((req, res) => {
        if (req.method === "GET" && req.url === "/stats") {
            res.end(JSON.stringify(stats));
            return;
        }
        read(req, (body) => {
            stats.otlpRequests++;
            stats.otlpSpans += (body.match(/"spanId"/g) ?? []).length;
            res.writeHead(200, { "content-type": "application/json" });
            res.end("{}");
        });
    }).listen(httpPort, "127.0.0.1", () => {
        https
            .createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
                read(req, (body) => {
                    const n = (JSON.parse(body) as unknown[]).length;
                    stats.trackRequests++;
                    stats.envelopes += n;
                    res.writeHead(200, { "content-type": "application/json" });
                    res.end(JSON.stringify({ itemsReceived: n, itemsAccepted: n, errors: [] }));
                });
            })
            .listen(httpsPort, "127.0.0.1", () => process.send?.("ready"));
    });
}

async function childReplica(port: number): Promise<void> {
    const server = http.createServer((req, res) => {
        let bytes = 0;
        req.on("data", (c: Buffer) => (bytes += c.length));
        req.on("end", () => {
            const body = JSON.stringify({ bytes });
            res.writeHead(200, {
                "content-type": "application/json",
                "content-length": Buffer.byteLength(body),
            });
            res.end(body);
        });
    });
    server.keepAliveTimeout = 60_000;
    server.listen(port, "127.0.0.1", () => process.send?.("ready"));
}

const HOP = new Set([
    "connection",
    "keep-alive",
    "transfer-encoding",
    "host",
    "te",
    "upgrade",
    "proxy-connection",
]);
function strip(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
    const out: http.OutgoingHttpHeaders = {};
    for (const k in headers) if (!HOP.has(k)) out[k] = headers[k];
    return out;
}

function childMiniHttp(port: number, target: string): void {
    const u = new URL(target);
    const agent = new http.Agent({ keepAlive: true, scheduling: "lifo" });
    http.createServer((req, res) => {
        const up = http.request(
            {
                agent,
                hostname: u.hostname,
                port: u.port,
                method: req.method,
                path: "/score",
                headers: strip(req.headers),
            },
            (ur) => {
                res.writeHead(ur.statusCode ?? 502, strip(ur.headers));
                ur.pipe(res);
            },
        );
        up.on("error", () => res.destroy());
        req.pipe(up);
    }).listen(port, "127.0.0.1", () => process.send?.("ready"));
}

function childMiniUndici(port: number, target: string): void {
    const pool = new Pool(target, { connections: 64, pipelining: 1 });
    http.createServer((req, res) => {
        const hasBody =
            req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0";
        pool.request({
            method: req.method as "POST",
            path: "/score",
            headers: strip(req.headers) as Record<string, string>,
            body: hasBody ? req : undefined,
        }).then(
            (ur) => {
                res.writeHead(ur.statusCode, strip(ur.headers as http.IncomingHttpHeaders));
                ur.body.pipe(res);
            },
            () => res.destroy(),
        );
    }).listen(port, "127.0.0.1", () => process.send?.("ready"));
}

// ---- orchestration -------------------------------------------------------------------------

const children: ChildProcess[] = [];
let tmp = "";

function startNginx(cpu: number, name: string, server: string): ChildProcess {
    const conf = join(tmp, `${name}.conf`);
    writeFileSync(conf, nginxConfig(tmp, name, server));
    const [cmd, a] = pinned(cpu, "nginx", ["-c", conf, "-p", tmp]);
    const child = spawn(cmd, a, { stdio: ["ignore", "inherit", "inherit"] });
    children.push(child);
    return child;
}

async function waitHttp(url: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const ok = await new Promise<boolean>((resolve) => {
            const req = http.request(url, { method: "POST", agent: false }, (res) => {
                res.resume();
                res.on("end", () => resolve((res.statusCode ?? 0) < 500));
            });
            req.on("error", () => resolve(false));
            req.end("{}");
        });
        if (ok) return;
        if (Date.now() > deadline) throw new Error(`${url} did not come up`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

interface WrkResult {
    rps: number;
    p50: number;
    p99: number;
    errors: number;
}

function wrk(
    url: string,
    seconds: number,
    delayMs?: number,
    headers: Record<string, string> = {},
): WrkResult {
    const script = wrkScript(
        tmp,
        '{"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}',
        headers,
        delayMs !== undefined ? `function delay() return math.random(0, ${2 * delayMs}) end` : "",
    );
    const r = runWrk(script, url, seconds);
    return { rps: r.rps, p50: r.p50Ms, p99: r.p99Ms, errors: r.non2xx + r.socketErrors };
}

function rssOf(pid: number): { rss: number; hwm: number } {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string): number =>
        Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { rss: kb("VmRSS") * 1024, hwm: kb("VmHWM") * 1024 };
}

async function postBig(
    url: string,
    bytes: number,
): Promise<{ status: number; ms: number; body: string }> {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
        const req = http.request(
            url,
            { method: "POST", agent: false, headers: { "content-length": String(bytes) } },
            (res) => {
                let body = "";
                res.on("data", (d) => (body += d));
                res.on("end", () =>
                    resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, body }),
                );
            },
        );
        req.on("error", reject);
        let sent = 0;
        const pump = (): void => {
            while (sent < bytes) {
                const n = Math.min(chunk.length, bytes - sent);
                sent += n;
                if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
                    req.once("drain", pump);
                    return;
                }
            }
            req.end();
        };
        pump();
    });
}

const fmt = (n: number, d = 3): string => (Number.isFinite(n) ? n.toFixed(d) : "n/a");

async function main(): Promise<void> {
    const durIdx = args.indexOf("--duration");
    const seconds = durIdx >= 0 ? Number(args[durIdx + 1]) : 10;
    const skipBody = args.includes("--skip-body");
    const onlyRates = args.includes("--only-rates");
    const repIdx = args.indexOf("--repeat");
    const repeat = repIdx >= 0 ? Math.max(1, Number(args[repIdx + 1])) : 1;
    for (const bin of ["wrk", "nginx", "taskset"]) {
        if (spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0) {
            throw new Error(
                `${bin} not found: apt-get install -y --no-install-recommends wrk nginx-light util-linux`,
            );
        }
    }
    tmp = mkdtempSync(join(tmpdir(), "router-bench-"));
    const [pReplica, pBodyReplica, pRouter, pRouterNoLog, pNginx, pMiniHttp, pMiniUndici] =
        await Promise.all(Array.from({ length: 7 }, freePort));
    const [pSinkHttp, pSinkHttps, pRouterAi, pRouterOtlp] = await Promise.all(
        Array.from({ length: 4 }, freePort),
    );
    startNginx(
        0,
        "replica",
        `server { listen 127.0.0.1:${pReplica}; keepalive_timeout 75s; location / { client_max_body_size 0; return 200 '{"result":[0.5]}'; } }`,
    );
    startNginx(
        1,
        "proxy",
        `upstream replica { server 127.0.0.1:${pReplica}; keepalive 64; }
  server {
    listen 127.0.0.1:${pNginx};
    client_max_body_size 100m;
    location /api/v1/service/bench/score {
      proxy_pass http://replica/score;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
    }
  }`,
    );
    const replicaUrl = `http://127.0.0.1:${pReplica}`;
    await startNodeChild(children, __filename, 0, ["child-replica", String(pBodyReplica)]);
    const bodyReplicaUrl = `http://127.0.0.1:${pBodyReplica}`;
    const router = await startNodeChild(children, __filename, 1, [
        "child-router",
        String(pRouter),
        replicaUrl,
        bodyReplicaUrl,
        "log",
    ]);
    const routerNoLog = await startNodeChild(children, __filename, 1, [
        "child-router",
        String(pRouterNoLog),
        replicaUrl,
        bodyReplicaUrl,
        "nolog",
    ]);
    // Application Insights export: a sink on CPU 0 (with wrk), routers exporting to it on CPU 1.
    const sinkCert = join(tmp, "sink.crt");
    const sinkKey = join(tmp, "sink.key");
    const opensslArgs = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1";
    spawnSync("openssl", [
        ...opensslArgs.split(" "),
        ...["-keyout", sinkKey, "-out", sinkCert, "-subj", "/CN=127.0.0.1"],
        ...["-addext", "subjectAltName=IP:127.0.0.1"],
    ]);
    await startNodeChild(children, __filename, 0, [
        "child-telemetry-sink",
        String(pSinkHttp),
        String(pSinkHttps),
        sinkCert,
        sinkKey,
    ]);
    process.env.BENCH_OTLP_URL = `http://127.0.0.1:${pSinkHttp}/v1/traces`;
    process.env.BENCH_AI_CONNECTION_STRING = `InstrumentationKey=00000000-0000-4000-8000-000000000000;IngestionEndpoint=https://127.0.0.1:${pSinkHttps}/`;
    process.env.BENCH_AI_CA_FILE = sinkCert;
    const telemetryRouters: ChildProcess[] = [];
    for (const [port, kind] of [
        [pRouterAi, "azure-monitor"],
        [pRouterOtlp, "otlp"],
    ] as const) {
        telemetryRouters.push(
            await startNodeChild(children, __filename, 1, [
                "child-router",
                String(port),
                replicaUrl,
                bodyReplicaUrl,
                "log",
                kind,
            ]),
        );
    }
    // CPU time per request of the router processes (all threads, the export worker included):
    // unlike latency, it hardly depends on what else runs on the machine.
    const routerPids: Record<string, number | undefined> = {
        router: router.pid,
        "router (no access log)": routerNoLog.pid,
        "router (app insights)": telemetryRouters[0].pid,
        "router (otlp)": telemetryRouters[1].pid,
    };
    const cpuPerRequest = new Map<string, number[]>();
    const measured = (name: string, run: () => WrkResult, secs: number): WrkResult => {
        const pid = routerPids[name];
        const before = pid ? cpuMicros(pid) : 0;
        const r = run();
        if (pid && r.rps > 0) {
            const list = cpuPerRequest.get(name) ?? [];
            list.push((cpuMicros(pid) - before) / (r.rps * secs));
            cpuPerRequest.set(name, list);
        }
        return r;
    };
    await startNodeChild(children, __filename, 1, [
        "child-mini-http",
        String(pMiniHttp),
        replicaUrl,
    ]);
    await startNodeChild(children, __filename, 1, [
        "child-mini-undici",
        String(pMiniUndici),
        replicaUrl,
    ]);

    const path = "/api/v1/service/bench/score";
    const targets: Record<string, string> = {
        direct: `${replicaUrl}/score`,
        router: `http://127.0.0.1:${pRouter}${path}`,
        nginx: `http://127.0.0.1:${pNginx}${path}`,
        "router (no access log)": `http://127.0.0.1:${pRouterNoLog}${path}`,
        "router (app insights)": `http://127.0.0.1:${pRouterAi}${path}`,
        "router (otlp)": `http://127.0.0.1:${pRouterOtlp}${path}`,
        "mini node:http": `http://127.0.0.1:${pMiniHttp}${path}`,
        "mini undici": `http://127.0.0.1:${pMiniUndici}${path}`,
    };
    for (const url of Object.values(targets)) await waitHttp(url);
    if (!skipBody) {
        const pid = router.pid as number;
        const before = rssOf(pid);
        writeFileSync(`/proc/${pid}/clear_refs`, "5"); // reset VmHWM to the current RSS
        const size = 100 * 1024 * 1024;
        const res = await postBig(`http://127.0.0.1:${pRouter}/api/v1/service/big/score`, size);
        const after = rssOf(pid);
        const received = (JSON.parse(res.body) as { bytes: number }).bytes;
        console.log("\n100 MiB body through a fresh router process (before any other load)\n");
        console.log("| status | replica got | time | router RSS before | peak during | growth |");
        console.log("|---:|---:|---:|---:|---:|---:|");
        const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
        console.log(
            `| ${res.status} | ${mb(received)} | ${(res.ms / 1000).toFixed(2)} s | ${mb(before.rss)} | ${mb(after.hwm)} | ${mb(after.hwm - before.rss)} |`,
        );
    }
    for (const url of Object.values(targets)) wrk(url, 2); // warm-up (JIT, connections)

    console.log(
        `\nFixed load, 16 connections, ${seconds} s per run, median of ${repeat} run(s) (latency in ms; added = target - direct)\n`,
    );
    console.log("| rate | target | achieved rps | p50 | p99 | added p50 | added p99 | errors |");
    console.log("|---:|---|---:|---:|---:|---:|---:|---:|");
    const names = (process.env.BENCH_RATE_TARGETS ?? "direct,router,nginx,mini undici").split(",");
    const median = (xs: number[]): number =>
        [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    for (const rate of [500, 2000]) {
        const delay = Math.round((16 * 1000) / rate);
        const runs = new Map<string, WrkResult[]>(names.map((n) => [n, []]));
        for (let k = 0; k < repeat; k++) {
            for (const name of names) {
                runs.get(name)?.push(
                    measured(name, () => wrk(targets[name], seconds, delay), seconds),
                );
            }
        }
        const med = (name: string): WrkResult => {
            const rs = runs.get(name) ?? [];
            return {
                rps: median(rs.map((r) => r.rps)),
                p50: median(rs.map((r) => r.p50)),
                p99: median(rs.map((r) => r.p99)),
                errors: rs.reduce((a, r) => a + r.errors, 0),
            };
        };
        const direct = med("direct");
        for (const name of names) {
            const r = med(name);
            const added =
                name === "direct" ? ["", ""] : [fmt(r.p50 - direct.p50), fmt(r.p99 - direct.p99)];
            console.log(
                `| ${rate} | ${name} | ${r.rps.toFixed(0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${added[0]} | ${added[1]} | ${r.errors} |`,
            );
        }
    }

    const sinkStats = async (): Promise<string> =>
        new Promise((resolve) => {
            http.get(`http://127.0.0.1:${pSinkHttp}/stats`, (res) => {
                let body = "";
                res.on("data", (d) => (body += d));
                res.on("end", () => resolve(body));
            }).on("error", (e) => resolve(e.message));
        });
    const printCpu = (title: string): void => {
        console.log(
            `\n${title}: router process CPU per request (user + system, all threads), median\n`,
        );
        console.log("| target | CPU µs per request | runs |");
        console.log("|---|---:|---:|");
        for (const [name, list] of cpuPerRequest) {
            console.log(`| ${name} | ${fmt(median(list), 1)} | ${list.length} |`);
        }
        cpuPerRequest.clear();
    };
    printCpu("Fixed load");
    if (onlyRates) {
        await new Promise((r) => setTimeout(r, 2500)); // the exporters' batch delay
        console.log(`\nTelemetry sink received: ${await sinkStats()}`);
        return;
    }
    console.log(`\nMax throughput, 16 connections, ${seconds} s each (proxy alone on CPU 1)\n`);
    console.log("| target | rps | p50 ms | p99 ms | errors | vs nginx |");
    console.log("|---|---:|---:|---:|---:|---:|");
    const max: Record<string, WrkResult> = {};
    for (const name of [
        "direct",
        "nginx",
        "router",
        "router (no access log)",
        "router (app insights)",
        "router (otlp)",
        "mini node:http",
        "mini undici",
    ]) {
        max[name] = measured(name, () => wrk(targets[name], seconds), seconds);
    }
    max["router, key auth"] = wrk(
        `http://127.0.0.1:${pRouter}/api/v1/service/bench-key/score`,
        seconds,
        undefined,
        { Authorization: "Bearer bench-key-0123456789abcdef0123456789" },
    );
    for (const [name, r] of Object.entries(max)) {
        const vs = name === "direct" ? "" : `${((100 * r.rps) / max.nginx.rps).toFixed(0)}%`;
        console.log(
            `| ${name} | ${r.rps.toFixed(0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.errors} | ${vs} |`,
        );
    }

    printCpu("Max throughput");
    void routerNoLog;
    await new Promise((r) => setTimeout(r, 2500)); // the exporters' batch delay
    console.log(`\nTelemetry sink received: ${await sinkStats()}`);
}

function cleanup(): void {
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    if (tmp) rmSync(tmp, { recursive: true, force: true });
}

if (mode === "main") {
    main().then(
        () => {
            cleanup();
            process.exit(0);
        },
        (err: Error) => {
            console.error(err.message);
            cleanup();
            process.exit(1);
        },
    );
} else if (mode === "child-router") {
    void childRouter(Number(args[1]), args[2], args[3], args[4] === "log", args[5]);
} else if (mode === "child-telemetry-sink") {
    childTelemetrySink(Number(args[1]), Number(args[2]), args[3], args[4]);
} else if (mode === "child-replica") {
    void childReplica(Number(args[1]));
} else if (mode === "child-mini-http") {
    childMiniHttp(Number(args[1]), args[2]);
} else if (mode === "child-mini-undici") {
    childMiniUndici(Number(args[1]), args[2]);
}
