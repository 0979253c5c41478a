/**
 * Model data collection benchmark (run by hand; prints numbers, asserts nothing):
 *
 *   npx tsx bench/model-data.ts [--duration 10] [--repeat 3] [--rates 500,2000]
 *
 * Needs Debian `wrk`, `nginx-light` and `taskset`. Same method as bench/router-proxy.ts: an nginx
 * `return 200` replica and wrk (16 connections, a Lua `delay()` spreading arrivals at the target
 * rate) on CPU 0; each router alone in its process on CPU 1. Targets:
 * - `direct`: the replica;
 * - `router`: collection off (`collectModelData: false`);
 * - `router (collect, dir)`: full sampling to a directory sink (tmpfs or disk under $TMPDIR);
 * - `router (collect, stalled)`: full sampling to a blob endpoint that accepts connections and
 *   never answers (the memory bound fills, every further record is dropped and counted).
 * Prints p50/p99 per target and rate (medians over the repeats), the latency each router adds
 * over `direct`, collection's share on top of `router`, and each router's collection counters
 * and RSS at the end.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, pinned, runWrk, startNodeChild, wrkScript } from "./lib";

const args = process.argv.slice(2);
const mode = args[0] && !args[0].startsWith("--") ? args[0] : "main";
const opt = (name: string, fallback: string): string => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
};

/** Azurite's public development key: the stalled endpoint never checks it. */
const DEV_KEY =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

// ---- children ------------------------------------------------------------------------------

async function childRouter(port: number, replica: string, store: string): Promise<void> {
    const { Router } = await import("../router/router");
    const { RouterServer } = await import("../router/server");
    const { silentLogger } = await import("../router/log");
    const { validateWebserviceSettings } = await import("../components/settings");
    const { BlobSink, DirectorySink, ModelDataCollector } = await import("../router/collect");
    const collect = store !== "off";
    const observers = [];
    let collector: InstanceType<typeof ModelDataCollector> | undefined;
    if (collect) {
        const sink = store.startsWith("dir:")
            ? new DirectorySink(store.slice(4))
            : new BlobSink({
                  connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:${store.slice(8)}/devstoreaccount1;`,
              });
        collector = new ModelDataCollector({
            sink,
            scope: { subscription: "bench", resourceGroup: "bench", workspace: "bench" },
            writeTimeoutMs: 600_000,
        });
        observers.push(collector);
    }
    const router = new Router({ logger: silentLogger(), accessLog: false, observers });
    if (collector) collector.metrics.registerIn(router.registry);
    const settings = validateWebserviceSettings({
        name: "bench",
        authEnabled: false,
        numReplicas: 1,
        replicaMaxConcurrentRequests: 64,
        collectModelData: collect,
    });
    router.onService({
        name: "bench",
        settings,
        auth: { mode: "none" },
        models: [{ name: "bench-model", version: "1" }],
    });
    router.onReplicas("bench", [{ id: "r0", url: replica }]);
    const server = new RouterServer({ router, host: "127.0.0.1", httpPort: port });
    await server.start();
    process.send?.("ready");
}

/** A TCP server that accepts and never answers: a store that stalls. */
function childStalled(port: number): void {
    const sockets: net.Socket[] = [];
    net.createServer((s) => {
        sockets.push(s);
        s.on("error", () => undefined);
    }).listen(port, "127.0.0.1", () => process.send?.("ready"));
}

// ---- main ----------------------------------------------------------------------------------

const children: ChildProcess[] = [];
let tmp = "";

function startNginx(port: number): void {
    const conf = join(tmp, "replica.conf");
    writeFileSync(
        conf,
        `worker_processes 1;
daemon off;
master_process off;
pid ${join(tmp, "replica.pid")};
error_log ${join(tmp, "replica.err")} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:${port}; location / { default_type application/json; return 200 '[182.68082262676546]'; } }
}
`,
    );
    const [cmd, a] = pinned(0, "nginx", ["-c", conf, "-p", tmp]);
    children.push(spawn(cmd, a, { stdio: ["ignore", "inherit", "inherit"] }));
}

async function waitHttp(url: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
        const ok = await new Promise<boolean>((resolve) => {
            const req = http.request(url, { method: "POST", agent: false }, (res) => {
                res.resume();
                res.on("end", () => resolve(res.statusCode === 200));
            });
            req.on("error", () => resolve(false));
            req.end('{"data": [[1]]}');
        });
        if (ok) return;
        if (Date.now() > deadline) throw new Error(`${url} did not come up`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

function wrk(
    url: string,
    seconds: number,
    rate: number,
): { rps: number; p50: number; p99: number; errors: number } {
    // The diabetes sample's input: ~80 bytes in, ~20 out, as a typical tabular model.
    const script = wrkScript(
        tmp,
        '{"data": [[0.038, 0.051, 0.062, 0.022, -0.044, -0.035, -0.043, -0.003, 0.020, -0.018]]}',
        {},
        `function delay() return math.random(0, ${Math.round((2 * 16 * 1000) / rate)}) end`,
    );
    const r = runWrk(script, url, seconds);
    return { rps: r.rps, p50: r.p50Ms, p99: r.p99Ms, errors: r.non2xx };
}

async function metrics(base: string): Promise<string> {
    return new Promise((resolve) => {
        http.get(`${base}/metrics`, (res) => {
            let t = "";
            res.on("data", (d) => (t += d));
            res.on("end", () => resolve(t));
        }).on("error", () => resolve(""));
    });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : "n/a");

async function main(): Promise<void> {
    for (const bin of ["wrk", "nginx", "taskset"]) {
        if (spawnSync("which", [bin]).status !== 0) throw new Error(`${bin} not found`);
    }
    const seconds = Number(opt("duration", "10"));
    const repeat = Number(opt("repeat", "3"));
    const rates = opt("rates", "500,2000").split(",").map(Number);
    tmp = mkdtempSync(join(tmpdir(), "amlaks-bench-md-"));
    try {
        const replicaPort = await freePort();
        startNginx(replicaPort);
        const replica = `http://127.0.0.1:${replicaPort}`;
        await waitHttp(`${replica}/score`);
        const stalledPort = await freePort();
        await startNodeChild(children, __filename, 0, ["child-stalled", String(stalledPort)]);
        const targets: Record<string, string> = { direct: `${replica}/score` };
        const routers: Record<string, { base: string; child: ChildProcess }> = {};
        for (const [name, store] of [
            ["router", "off"],
            ["router (collect, dir)", `dir:${join(tmp, "data")}`],
            ["router (collect, stalled)", `stalled:${stalledPort}`],
        ] as const) {
            const port = await freePort();
            const child = await startNodeChild(children, __filename, 1, [
                "child-router",
                String(port),
                replica,
                store,
            ]);
            routers[name] = { base: `http://127.0.0.1:${port}`, child };
            targets[name] = `http://127.0.0.1:${port}/api/v1/service/bench/score`;
        }
        for (const url of Object.values(targets)) wrk(url, 2, 500); // warm-up
        console.log(`node ${process.version}, ${seconds} s × ${repeat} per point, 16 connections`);
        for (const rate of rates) {
            const runs = new Map<
                string,
                { p50: number[]; p99: number[]; rps: number[]; errors: number }
            >();
            for (let r = 0; r < repeat; r++) {
                for (const [name, url] of Object.entries(targets)) {
                    const w = wrk(url, seconds, rate);
                    const run = runs.get(name) ?? { p50: [], p99: [], rps: [], errors: 0 };
                    run.p50.push(w.p50);
                    run.p99.push(w.p99);
                    run.rps.push(w.rps);
                    run.errors += w.errors;
                    runs.set(name, run);
                }
            }
            const direct = runs.get("direct")!;
            const base = runs.get("router")!;
            console.log(`\n${rate} rps target`);
            console.log(
                "target                      achieved   p50 ms   p99 ms   added p50   added p99   collection share (p50)   errors",
            );
            for (const [name, run] of runs) {
                const addedP50 = median(run.p50) - median(direct.p50);
                const addedP99 = median(run.p99) - median(direct.p99);
                const baseAdded = median(base.p50) - median(direct.p50);
                const share = name.includes("collect")
                    ? `${fmt(((addedP50 - baseAdded) / baseAdded) * 100)} %`
                    : "";
                console.log(
                    `${name.padEnd(27)} ${fmt(median(run.rps)).padStart(9)} ${fmt(median(run.p50)).padStart(8)} ${fmt(median(run.p99)).padStart(8)} ${name === "direct" ? "" : fmt(addedP50).padStart(11)} ${name === "direct" ? "" : fmt(addedP99).padStart(11)}   ${share.padEnd(24)} ${run.errors}`,
                );
            }
        }
        console.log("\ncollection counters and RSS at the end:");
        for (const [name, { base, child }] of Object.entries(routers)) {
            const text = await metrics(base);
            const sum = (re: RegExp): number =>
                [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
            const rss = Number(
                /^VmRSS:\s+(\d+) kB/m.exec(
                    readFileSync(`/proc/${child.pid}/status`, "utf8"),
                )?.[1] ?? NaN,
            );
            console.log(
                `${name.padEnd(27)} collected ${sum(/^amlaks_router_model_data_collected_total\{[^}]*\} (\d+)/gm)}, ` +
                    `written ${sum(/^amlaks_router_model_data_written_total\{[^}]*designation="predictions"\} (\d+)/gm)}, ` +
                    `dropped ${sum(/^amlaks_router_model_data_dropped_total\{[^}]*\} (\d+)/gm)}, ` +
                    `held ${sum(/^amlaks_router_model_data_queued_bytes (\d+)/gm)} B, RSS ${(rss / 1024).toFixed(0)} MiB`,
            );
        }
    } finally {
        for (const c of children) c.kill("SIGKILL");
        rmSync(tmp, { recursive: true, force: true });
    }
}

if (mode === "child-router") {
    void childRouter(Number(args[1]), args[2], args[3]);
} else if (mode === "child-stalled") {
    childStalled(Number(args[1]));
} else {
    main().catch((err: Error) => {
        for (const c of children) c.kill("SIGKILL");
        console.error(err.message);
        process.exit(1);
    });
}
