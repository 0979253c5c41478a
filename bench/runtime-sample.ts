/**
 * Benchmark of the local runtime with the bundled sample (run by hand, prints numbers):
 *   npx tsx bench/runtime-sample.ts [--requests 2000] [--clients 16] [--load-seconds 10]
 *
 * 1. launch → first successful score: `amlaks serve --sample` (what `npm start` runs) spawned
 *    with tsx, until the first 200 from the scoring URI;
 * 2. latency p50/p99 of sequential requests (keep-alive) through the router, and straight to
 *    the replica for comparison (the router's share);
 * 3. replica count over a load step: `--clients` concurrent clients for `--load-seconds`, then
 *    quiet, sampled every 0.5 s from /metrics (scale-down delay 5 s).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(__dirname, "..");
const { values } = parseArgs({
    options: {
        requests: { type: "string", default: "2000" },
        clients: { type: "string", default: "16" },
        "load-seconds": { type: "string", default: "10" },
    },
});
const REQUESTS = Number(values.requests);
const CLIENTS = Number(values.clients);
const LOAD_MS = Number(values["load-seconds"]) * 1000;

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(url: string, body: string, key?: string): Promise<number> {
    return new Promise((res, rej) => {
        const req = http.request(
            url,
            {
                method: "POST",
                agent,
                headers: {
                    "content-type": "application/json",
                    ...(key ? { authorization: `Bearer ${key}` } : {}),
                },
            },
            (r) => {
                r.resume();
                r.on("end", () => res(r.statusCode ?? 0));
            },
        );
        req.on("error", rej);
        req.end(body);
    });
}

function get(url: string): Promise<string> {
    return new Promise((res, rej) => {
        http.get(url, { agent }, (r) => {
            let b = "";
            r.setEncoding("utf8")
                .on("data", (d: string) => (b += d))
                .on("end", () => res(b));
        }).on("error", rej);
    });
}

function pct(sorted: number[], p: number): number {
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function latency(url: string, body: string, key?: string): Promise<string> {
    for (let i = 0; i < 100; i++) await post(url, body, key); // warm-up
    const times: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
        const t = performance.now();
        const status = await post(url, body, key);
        times.push(performance.now() - t);
        if (status !== 200) throw new Error(`status ${status}`);
    }
    times.sort((a, b) => a - b);
    return `p50 ${pct(times, 50).toFixed(2)} ms, p99 ${pct(times, 99).toFixed(2)} ms, max ${times[times.length - 1].toFixed(2)} ms (${REQUESTS} sequential requests)`;
}

async function main(): Promise<void> {
    const cwd = mkdtempSync(join(tmpdir(), "amlaks-bench-"));
    const tsx = pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;
    const t0 = performance.now();
    const child = spawn(
        process.execPath,
        [
            "--import",
            tsx,
            join(ROOT, "runtime", "cli.ts"),
            "serve",
            "--sample",
            "--port",
            "0",
            "--scale-down-delay",
            "5",
        ],
        { cwd, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    try {
        const scoringUri = await new Promise<string>((res, rej) => {
            const timer = setInterval(() => {
                const m = out.match(/scoring URI:\s+(\S+)/);
                if (m) {
                    clearInterval(timer);
                    res(m[1]);
                }
            }, 5);
            child.once("exit", () => rej(new Error(`serve exited:\n${out}`)));
        });
        const keys = JSON.parse(
            readFileSync(join(cwd, ".amlaks", "diabetes", "keys.json"), "utf8"),
        ) as { primaryKey: string };
        const reference = JSON.parse(
            readFileSync(join(ROOT, "examples", "sample", "reference-predictions.json"), "utf8"),
        ) as { input: unknown };
        const body = JSON.stringify(reference.input);
        while ((await post(scoringUri, body, keys.primaryKey)) !== 200)
            await new Promise((r) => setTimeout(r, 5));
        const firstScore = performance.now() - t0;
        console.log(
            `launch → first successful score: ${(firstScore / 1000).toFixed(2)} s (tsx compile included)`,
        );

        const replicaPort = out.match(/replica diabetes-1 starting \(pid \d+, port (\d+)\)/)?.[1];
        console.log(`through the router:    ${await latency(scoringUri, body, keys.primaryKey)}`);
        if (replicaPort) {
            console.log(
                `straight to a replica: ${await latency(`http://127.0.0.1:${replicaPort}/score`, body)}`,
            );
        }

        // Load step.
        const metricsUri = scoringUri.replace(/\/api\/v1\/service\/.*$/, "/metrics");
        const ready = async (): Promise<number> =>
            Number(
                (await get(metricsUri)).match(
                    /amlaks_router_ready_replicas\{service="diabetes"\} (\d+)/,
                )?.[1] ?? -1,
            );
        const start = performance.now();
        let done = 0;
        let failed = 0;
        const stopAt = start + LOAD_MS;
        const client = async (): Promise<void> => {
            while (performance.now() < stopAt) {
                const s = await post(scoringUri, body, keys.primaryKey);
                if (s === 200) done++;
                else failed++;
            }
        };
        const timeline: string[] = [];
        let lastDone = 0;
        const sampler = (async () => {
            while (performance.now() < stopAt + 12_000) {
                await new Promise((r) => setTimeout(r, 500));
                const t = (performance.now() - start) / 1000;
                const rps = (done - lastDone) / 0.5;
                lastDone = done;
                timeline.push(
                    `  t=${t.toFixed(1).padStart(5)} s  replicas=${await ready()}  rps=${rps.toFixed(0).padStart(5)}${performance.now() < stopAt ? "  (load)" : ""}`,
                );
            }
        })();
        await Promise.all([...Array.from({ length: CLIENTS }, client)]);
        await sampler;
        console.log(
            `load step: ${CLIENTS} concurrent clients for ${LOAD_MS / 1000} s, then quiet: ${done} ok, ${failed} failed`,
        );
        console.log(timeline.join("\n"));
        console.log("scaling decisions printed by the CLI:");
        for (const line of out.split("\n").filter((l) => l.startsWith("scale ")))
            console.log(`  ${line}`);
    } finally {
        child.kill("SIGINT");
        await new Promise((r) => child.once("exit", r));
        agent.destroy();
        rmSync(cwd, { recursive: true, force: true });
    }
}

main().catch((e: Error) => {
    console.error(e);
    process.exit(1);
});
