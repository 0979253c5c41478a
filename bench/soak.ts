/**
 * Soak run of the local runtime (issue 15; run by hand, never in `npm test`):
 *   npx tsx bench/soak.ts [--rate 50] [--minutes 30] [--rotate-minutes 5] [--kill-at-minute 15]
 *
 * Starts `amlaks serve` with the bundled sample (autoscale 2-4 replicas, key auth, its own keys
 * file in a temporary folder), drives it at a steady open-loop rate (requests are sent on
 * schedule, not when the previous one answered, so a slow router shows as latency and errors,
 * not as a lower rate), and meanwhile:
 * - rotates a key every --rotate-minutes, as v1 `regen_key` then a client switch: a new key
 *   replaces the one clients do not use (written atomically to the keys file, which the runtime
 *   reloads), probes until the router accepts it, then clients switch to it — no request may fail;
 * - kills one replica with SIGKILL at --kill-at-minute (the only errors allowed: requests that
 *   were on that replica).
 * Prints one row per minute: requests, errors by status, p50/p99 latency, router RSS, replica
 * RSS (sum) and count; then whether RSS stayed within ±10% of its mean after warm-up.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(__dirname, "..");
const { values } = parseArgs({
    options: {
        rate: { type: "string", default: "50" },
        minutes: { type: "string", default: "30" },
        "rotate-minutes": { type: "string", default: "5" },
        "kill-at-minute": { type: "string" },
        "warmup-minutes": { type: "string", default: "2" },
    },
});

function positive(name: string, text: string | undefined): number {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) {
        console.error(`--${name}: ${JSON.stringify(text)} must be a number > 0`);
        process.exit(2);
    }
    return n;
}
const RATE = positive("rate", values.rate);
const MINUTES = positive("minutes", values.minutes);
const ROTATE_MS = positive("rotate-minutes", values["rotate-minutes"]) * 60_000;
const KILL_AT_MS =
    positive("kill-at-minute", values["kill-at-minute"] ?? String(MINUTES / 2)) * 60_000;
const WARMUP = Number(values["warmup-minutes"]);
const DURATION_MS = MINUTES * 60_000;

const BODY = JSON.stringify({
    data: [[0.0381, 0.0507, 0.0617, 0.0219, -0.0442, -0.0348, -0.0434, -0.0026, 0.0199, -0.0176]],
});
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function post(url: string, key: string): Promise<number> {
    return new Promise((res) => {
        const req = http.request(
            url,
            {
                method: "POST",
                agent,
                headers: {
                    "content-type": "application/json",
                    authorization: `Bearer ${key}`,
                    "content-length": Buffer.byteLength(BODY),
                },
                timeout: 70_000,
            },
            (r) => {
                r.resume();
                r.on("end", () => res(r.statusCode ?? 0));
                r.on("error", () => res(-1));
            },
        );
        req.on("timeout", () => req.destroy());
        req.on("error", () => res(-1)); // -1: connection error (no HTTP status)
        req.end(BODY);
    });
}

/** VmRSS of a process in MiB, 0 when it is gone. */
function rssMiB(pid: number): number {
    try {
        const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
        return m ? Number(m[1]) / 1024 : 0;
    } catch {
        return 0;
    }
}

function percentile(sorted: number[], p: number): number {
    if (sorted.length === 0) return NaN;
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Minute {
    requests: number;
    byStatus: Map<number, number>;
    latencies: number[];
    routerRss: number;
    replicaRss: number;
    replicas: number;
    events: string[];
}

async function main(): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), "amlaks-soak-"));
    const keysFile = join(dir, "keys.json");
    const settingsFile = join(dir, "settings.yaml");
    writeFileSync(
        settingsFile,
        [
            "name: soak",
            "authEnabled: true",
            "autoscaleEnabled: true",
            "autoscaleMinReplicas: 2",
            "autoscaleMaxReplicas: 4",
            "autoscaleTargetUtilization: 70",
            "replicaMaxConcurrentRequests: 1",
            "maxRequestWaitTime: 500",
            "scoringTimeoutMs: 60000",
            "",
        ].join("\n"),
    );
    const sample = join(ROOT, "examples", "sample");
    const tsx = pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;
    const cli: ChildProcess = spawn(
        process.execPath,
        [
            "--import",
            tsx,
            join(ROOT, "runtime", "cli.ts"),
            "serve",
            "--entry-script",
            join(sample, "score.py"),
            "--model",
            join(sample, "model", "sklearn_regression_model.json"),
            "--settings",
            settingsFile,
            "--keys-file",
            keysFile,
            "--port",
            "0",
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
    );
    const replicaPids = new Map<string, number>();
    let out = "";
    let scoringUri = "";
    const onLine = (line: string): void => {
        const start = line.match(/replica (\S+) starting \(pid (\d+)/);
        if (start) replicaPids.set(start[1], Number(start[2]));
        const gone = line.match(/replica (\S+) (?:stopped|failed)/);
        if (gone) replicaPids.delete(gone[1]);
        const uri = line.match(/scoring URI:\s+(\S+)/);
        if (uri) scoringUri = uri[1];
        if (/^warn|^error|failed/.test(line)) console.error(`  [runtime] ${line}`);
    };
    cli.stdout?.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        const lines = out.split("\n");
        out = lines.pop() ?? "";
        lines.forEach(onLine);
    });
    cli.stderr?.setEncoding("utf8").on("data", (d: string) => d.split("\n").forEach(onLine));
    const cleanup = (): void => {
        if (cli.exitCode === null) cli.kill("SIGTERM");
        rmSync(dir, { recursive: true, force: true });
    };
    process.on("SIGINT", () => {
        cleanup();
        process.exit(130);
    });

    const deadline = Date.now() + 120_000;
    while (!scoringUri || replicaPids.size < 2) {
        if (Date.now() > deadline || cli.exitCode !== null) {
            cleanup();
            throw new Error("the runtime did not come up within 120 s");
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    const keys = JSON.parse(readFileSync(keysFile, "utf8")) as Record<string, string>;
    let use: "primaryKey" | "secondaryKey" = "primaryKey";
    let key = keys[use];
    console.log(
        `soak: ${RATE} req/s for ${MINUTES} min against ${scoringUri} (router pid ${cli.pid}), ` +
            `key rotation every ${ROTATE_MS / 60_000} min, one replica killed at minute ${KILL_AT_MS / 60_000}`,
    );

    const minutes: Minute[] = [];
    const minute = (i: number): Minute => {
        while (minutes.length <= i)
            minutes.push({
                requests: 0,
                byStatus: new Map(),
                latencies: [],
                routerRss: 0,
                replicaRss: 0,
                replicas: 0,
                events: [],
            });
        return minutes[i];
    };
    const t0 = performance.now();
    const minuteNow = (): number => Math.floor((performance.now() - t0) / 60_000);

    // Open loop: at each tick, send what the schedule says is due.
    let sent = 0;
    const inFlight = new Set<Promise<void>>();
    const send = (): void => {
        const m = minuteNow();
        const started = performance.now();
        const p = post(scoringUri, key).then((status) => {
            const row = minute(m);
            row.requests++;
            row.byStatus.set(status, (row.byStatus.get(status) ?? 0) + 1);
            row.latencies.push(performance.now() - started);
        });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
    };
    const loadTimer = setInterval(() => {
        const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
        while (sent < due) {
            sent++;
            send();
        }
    }, 5);

    const sampleTimer = setInterval(() => {
        const row = minute(minuteNow());
        row.routerRss = rssMiB(cli.pid as number);
        row.replicas = replicaPids.size;
        row.replicaRss = [...replicaPids.values()].reduce((a, pid) => a + rssMiB(pid), 0);
    }, 5000);

    // Rotation: replace the key clients do not use, wait until it is accepted, switch to it.
    let rotations = 0;
    const rotate = async (): Promise<void> => {
        const other = use === "primaryKey" ? "secondaryKey" : "primaryKey";
        const current = JSON.parse(readFileSync(keysFile, "utf8")) as Record<string, string>;
        const fresh = randomBytes(32).toString("base64url");
        const tmp = `${keysFile}.soak.tmp`;
        writeFileSync(tmp, `${JSON.stringify({ ...current, [other]: fresh }, null, 2)}\n`, {
            mode: 0o600,
        });
        renameSync(tmp, keysFile);
        const t = performance.now();
        while ((await post(scoringUri, fresh)) !== 200) {
            if (performance.now() - t > 15_000) {
                minute(minuteNow()).events.push("rotation NOT applied in 15 s");
                return;
            }
            await new Promise((r) => setTimeout(r, 100));
        }
        use = other;
        key = fresh;
        rotations++;
        minute(minuteNow()).events.push(
            `rotated ${other} (accepted after ${Math.round(performance.now() - t)} ms)`,
        );
    };
    const rotateTimer = setInterval(() => void rotate(), ROTATE_MS);

    const killTimer = setTimeout(() => {
        const [id, pid] = [...replicaPids.entries()][0] ?? [];
        if (pid === undefined) return;
        process.kill(pid, "SIGKILL");
        minute(minuteNow()).events.push(`killed replica ${id} (pid ${pid})`);
    }, KILL_AT_MS);

    await new Promise((r) => setTimeout(r, DURATION_MS));
    clearInterval(loadTimer);
    clearInterval(rotateTimer);
    clearTimeout(killTimer);
    await Promise.all(inFlight);
    clearInterval(sampleTimer);
    cli.kill("SIGTERM");
    await new Promise((r) => cli.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
    agent.destroy();

    const rows = minutes.slice(0, Math.ceil(MINUTES));
    console.log(
        "\n| min | requests | 200 | errors (status: count) | p50 ms | p99 ms | router RSS MiB | replicas | replica RSS MiB | events |",
    );
    console.log("|---|---|---|---|---|---|---|---|---|---|");
    let errors = 0;
    rows.forEach((r, i) => {
        const sorted = [...r.latencies].sort((a, b) => a - b);
        const errs = [...r.byStatus].filter(([s]) => s !== 200);
        errors += errs.reduce((a, [, n]) => a + n, 0);
        console.log(
            `| ${i + 1} | ${r.requests} | ${r.byStatus.get(200) ?? 0} | ${errs.map(([s, n]) => `${s === -1 ? "conn" : s}: ${n}`).join(", ") || "-"} | ` +
                `${percentile(sorted, 50).toFixed(1)} | ${percentile(sorted, 99).toFixed(1)} | ${r.routerRss.toFixed(1)} | ${r.replicas} | ${r.replicaRss.toFixed(1)} | ${r.events.join("; ")} |`,
        );
    });
    const after = rows.slice(WARMUP).filter((r) => r.routerRss > 0);
    const flat = (pick: (r: Minute) => number, what: string): void => {
        const v = after.map(pick);
        if (v.length === 0) return;
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        const lo = Math.min(...v);
        const hi = Math.max(...v);
        const within = lo >= mean * 0.9 && hi <= mean * 1.1;
        console.log(
            `${what} after ${WARMUP} min warm-up: mean ${mean.toFixed(1)} MiB, min ${lo.toFixed(1)}, max ${hi.toFixed(1)} → ${within ? "flat within ±10%" : "NOT within ±10%"}`,
        );
    };
    console.log(
        `\ntotal ${rows.reduce((a, r) => a + r.requests, 0)} requests, ${errors} not 200, ${rotations} key rotations`,
    );
    flat((r) => r.routerRss, "router RSS");
    flat((r) => (r.replicas > 0 ? r.replicaRss / r.replicas : 0), "replica RSS (per replica)");
}

main().catch((err: Error) => {
    console.error(`soak: ${err.stack ?? err.message}`);
    process.exit(1);
});
