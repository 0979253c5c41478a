/**
 * Hot-path benchmark (issue 16; run by hand, prints numbers, asserts nothing):
 *
 *   npm run bench:hot-path -- [--duration 5] [--repeat 5] [--only name,name] [--two-routers]
 *
 * Needs Debian `wrk`, `nginx-light` and `taskset`. Every target proxies the same key-protected
 * POST (a 40-byte JSON body) to the same no-op replica (nginx `return 200`) on loopback:
 * - `nginx`: nginx as a plain reverse proxy (1 worker, upstream keepalive) — the floor;
 * - `bare-node`: the least a Node proxy does: check the key, read the body, one undici
 *   `Pool.request`, answer with the replica's status and body (reading whole bodies is cheaper
 *   than piping streams: about 165 vs 230 µs here, so this is the stricter baseline);
 * - `router`: the router bundle the cluster image runs (`node dist/router-image/router.js`), with
 *   a static backend (the only difference from the pod: no watch, which is off the hot path),
 *   access log and metrics on (the defaults users run with); `router-quiet`: both off;
 * - `serve`: `amlaks serve` (the local runtime's router) with a no-op Node model server as
 *   `--replica-command`; `serve-json`: with `--log-format json --access-log`.
 * Processes' stdout goes through a pipe to a `cat` on the load CPU, as a container's stdout goes to
 * the container runtime. Each proxy is pinned on CPU 1; wrk, the replica and `cat` share CPU 0.
 * Rounds are interleaved (every target once per round), so a slow spell of a shared machine hits
 * all targets alike. Reported per target: CPU µs per request (utime+stime of the proxy process
 * from /proc over a measured run, divided by requests; median and min over rounds) and its ratio
 * to bare-node's, requests/s and p50/p99 at 16 connections (closed loop), and p50/p99 at 1
 * connection minus the replica's own (the latency the proxy adds).
 * `--two-routers`: also two router processes, one per CPU, each loaded by its own wrk — what a
 * second core (or pod) adds, and whether per-request CPU stays the same with no shared state.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
    cpuMicros,
    freePort,
    nginxConfig,
    parseWrk,
    runWrk,
    wrkCommand,
    wrkScript,
    type WrkResult,
} from "./lib";

const REPO = resolve(__dirname, "..");
const KEY = "bench-key-0123456789abcdef0123456789ab";
const BODY = JSON.stringify({ data: [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]] });

const argv = process.argv.slice(2);
function flag(name: string, fallback: string): string {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
}
const DURATION = Number(flag("duration", "5"));
const REPEAT = Number(flag("repeat", "5"));
const TWO_ROUTERS = argv.includes("--two-routers");
const ONLY = flag("only", "")
    .split(",")
    .filter((s) => s.length > 0);

// ---- the bare proxy (run as a child: `tsx bench/hot-path.ts bare-node <port> <target>`) -------

async function bareNode(port: number, target: string): Promise<void> {
    const { Pool } = await import("undici");
    const pool = new Pool(target, { connections: 64 });
    http.createServer((req, res) => {
        if (req.headers.authorization !== `Bearer ${KEY}`) return void res.writeHead(401).end();
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const headers = { "content-type": "application/json" };
            pool.request({ method: "POST", path: "/score", body: Buffer.concat(chunks), headers })
                .then(async (up) => {
                    const body = Buffer.from(await up.body.arrayBuffer());
                    res.writeHead(up.statusCode, { "content-type": "application/json" });
                    res.end(body);
                })
                .catch(() => res.writeHead(502).end());
        });
    }).listen(port, "127.0.0.1", () => process.send?.("ready"));
}

/** The model server `serve` starts: answers GET / (ready) and POST /score. */
const NOOP_REPLICA = `
const http = require("node:http");
http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
        const body = req.method === "GET" ? "Healthy" : '{"result":[1]}';
        res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
        res.end(body);
    });
}).listen(Number(process.env.SERVER_PORT), process.env.SERVER_HOST || "127.0.0.1");
`;

// ---- processes -------------------------------------------------------------------------------

const children: ChildProcess[] = [];
let tmp = "";

function pinnedSpawn(
    cpu: number,
    cmd: string,
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; stdout?: string; ipc?: boolean } = {},
): ChildProcess {
    const child = spawn("taskset", ["-c", String(cpu), cmd, ...args], {
        env: { ...process.env, ...opts.env },
        stdio: [
            "ignore",
            opts.stdout ? "pipe" : "ignore",
            "inherit",
            ...(opts.ipc ? ["ipc" as const] : []),
        ],
    });
    children.push(child);
    if (opts.stdout) {
        // The reader of the pipe runs on the load CPU, as a container runtime reads stdout.
        const reader = spawn("taskset", ["-c", "0", "cat"], {
            stdio: [child.stdout!, openSync(opts.stdout, "w"), "inherit"],
        });
        children.push(reader);
    }
    return child;
}

async function waitHttp(url: string, headers: Record<string, string> = {}): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
        const ok = await new Promise<boolean>((done) => {
            const req = http.request(url, { method: "POST", headers }, (res) => {
                res.resume();
                done(res.statusCode === 200);
            });
            req.on("error", () => done(false));
            req.end(BODY);
        });
        if (ok) return;
        if (Date.now() > deadline) throw new Error(`${url} never answered 200`);
        await new Promise((r) => setTimeout(r, 200));
    }
}

function nginxConf(name: string, port: number, body: string): string {
    const conf = join(tmp, `${name}.conf`);
    writeFileSync(conf, nginxConfig(tmp, name, body.replace("PORT", String(port))));
    return conf;
}

let script = "";

/** The bench's request as a wrk script (written once): the key-protected 40-byte POST. */
function postScript(): string {
    script ||= wrkScript(tmp, BODY, { Authorization: `Bearer ${KEY}` });
    return script;
}

/** wrk pinned on `cpu` (the load CPU, 0, unless two loads run at once). */
function wrk(url: string, connections: number, seconds: number, cpu = 0): WrkResult {
    return runWrk(postScript(), url, seconds, { connections, cpu });
}

/** `wrk` without blocking, so two loads can run at once. */
function wrkAsync(
    url: string,
    connections: number,
    seconds: number,
    cpu: number,
): Promise<WrkResult> {
    const [cmd, args] = wrkCommand(postScript(), url, seconds, { connections, cpu });
    return new Promise((done, fail) => {
        const c = spawn(cmd, args);
        let out = "";
        let err = "";
        c.stdout.on("data", (d: Buffer) => (out += d.toString()));
        c.stderr.on("data", (d: Buffer) => (err += d.toString()));
        c.on("error", fail);
        c.on("close", (code) =>
            code === 0 ? done(parseWrk(out)) : fail(new Error(`wrk failed: ${err}`)),
        );
    });
}

// ---- targets -----------------------------------------------------------------------------------

interface Target {
    readonly name: string;
    /** Starts the proxy; resolves its URL and the pid whose CPU is counted. */
    start(replica: string): Promise<{ url: string; pid: number }>;
}

const SCORE = "/api/v1/service/bench/score";

function routerTarget(name: string, env: Record<string, string>, cpu = 1): Target {
    return {
        name,
        async start(replica) {
            const bundle = join(REPO, "dist", "router-image", "router.js");
            if (!existsSync(bundle)) throw new Error("run `npm run build` first (router bundle)");
            const port = await freePort();
            const services = join(tmp, `${name}-services.json`);
            writeFileSync(
                services,
                JSON.stringify({
                    services: [
                        {
                            settings: {
                                name: "bench",
                                authEnabled: true,
                                primaryKey: KEY,
                                secondaryKey: `${KEY}-2`,
                                replicaMaxConcurrentRequests: 64,
                                maxRequestWaitTime: 5000,
                            },
                            replicas: [{ id: "bench-0", url: replica }],
                        },
                    ],
                }),
            );
            const child = pinnedSpawn(cpu, process.execPath, [bundle], {
                stdout: join(tmp, `${name}.log`),
                env: {
                    ROUTER_BACKEND: "static",
                    ROUTER_SERVICES_FILE: services,
                    ROUTER_HOST: "127.0.0.1",
                    ROUTER_HTTP_PORT: String(port),
                    ROUTER_METRICS_PORT: String(await freePort()),
                    ...env,
                },
            });
            const url = `http://127.0.0.1:${port}${SCORE}`;
            await waitHttp(url, { authorization: `Bearer ${KEY}` });
            return { url, pid: child.pid! };
        },
    };
}

function serveTarget(name: string, extra: string[]): Target {
    return {
        name,
        async start() {
            const cli = join(REPO, "dist", "runtime", "cli.js");
            if (!existsSync(cli))
                throw new Error("run `npm run build` first (dist/runtime/cli.js)");
            const dir = mkdtempSync(join(tmp, "serve-"));
            writeFileSync(join(dir, "replica.js"), NOOP_REPLICA);
            writeFileSync(
                join(dir, "score.py"),
                "def init():\n    pass\ndef run(data):\n    return data\n",
            );
            writeFileSync(
                join(dir, "settings.json"),
                JSON.stringify({
                    name: "bench",
                    authEnabled: true,
                    primaryKey: KEY,
                    secondaryKey: `${KEY}-2`,
                    numReplicas: 1,
                    replicaMaxConcurrentRequests: 64,
                    maxRequestWaitTime: 5000,
                }),
            );
            const port = await freePort();
            const child = pinnedSpawn(
                1,
                process.execPath,
                [
                    cli,
                    "serve",
                    "--entry-script",
                    join(dir, "score.py"),
                    "--settings",
                    join(dir, "settings.json"),
                    "--port",
                    String(port),
                    "--replica-command",
                    `${process.execPath} ${join(dir, "replica.js")}`,
                    ...extra,
                ],
                { stdout: join(tmp, `${name}.log`) },
            );
            const url = `http://127.0.0.1:${port}${SCORE}`;
            await waitHttp(url, { authorization: `Bearer ${KEY}` });
            return { url, pid: child.pid! };
        },
    };
}

const TARGETS: Target[] = [
    {
        name: "nginx",
        async start(replica) {
            const port = await freePort();
            const conf = nginxConf(
                "proxy",
                port,
                `upstream replica { server ${new URL(replica).host}; keepalive 64; }
  server { listen 127.0.0.1:PORT; location / {
    if ($http_authorization != "Bearer ${KEY}") { return 401; }
    proxy_pass http://replica; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
            );
            const child = pinnedSpawn(1, "nginx", ["-c", conf, "-e", join(tmp, "proxy.err")]);
            const url = `http://127.0.0.1:${port}${SCORE}`;
            await waitHttp(url, { authorization: `Bearer ${KEY}` });
            return { url, pid: child.pid! };
        },
    },
    {
        name: "bare-node",
        async start(replica) {
            const port = await freePort();
            const child = pinnedSpawn(
                1,
                process.execPath,
                ["--import", "tsx", __filename, "bare-node", String(port), replica],
                { ipc: true },
            );
            await new Promise((r) => child.once("message", r));
            const url = `http://127.0.0.1:${port}${SCORE}`;
            return { url, pid: child.pid! };
        },
    },
    routerTarget("router", {}),
    routerTarget("router-quiet", { ROUTER_ACCESS_LOG: "false", ROUTER_METRICS: "false" }),
    serveTarget("serve", []),
    serveTarget("serve-json", ["--log-format", "json", "--access-log"]),
];

/** taskset starts the real process as its child: find it (the pid whose CPU counts). */
function leafPid(pid: number): number {
    for (let i = 0; i < 20; i++) {
        const kids = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
            .stdout.trim()
            .split("\n")
            .filter(Boolean);
        // taskset execs in place, so usually pid is already the process; nginx/node have no child.
        if (kids.length === 0) return pid;
        const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
        if (comm !== "taskset") return pid;
        pid = Number(kids[0]);
    }
    return pid;
}

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)]!;
}

interface Run {
    readonly rps: number;
    readonly p50: number;
    readonly p99: number;
    readonly cpuUs: number;
}

/** One measured run of `seconds` at 16 connections against a started target. */
function measure(url: string, pid: number, seconds: number, cpu = 0): Run {
    const before = cpuMicros(pid);
    const r = wrk(url, 16, seconds, cpu);
    return run(url, r, cpuMicros(pid) - before);
}

const fixed = (n: number, d: number, w: number): string => n.toFixed(d).padStart(w);

async function main(): Promise<void> {
    tmp = mkdtempSync(join(tmpdir(), "amlaks-hot-path-"));
    const replicaPort = await freePort();
    pinnedSpawn(0, "nginx", [
        "-c",
        nginxConf(
            "replica",
            replicaPort,
            `server { listen 127.0.0.1:PORT; location / { return 200 '{"result":[1]}'; } }`,
        ),
        "-e",
        join(tmp, "replica.err"),
    ]);
    const replica = `http://127.0.0.1:${replicaPort}`;
    await waitHttp(`${replica}/score`);
    const base = wrk(`${replica}/score`, 1, Math.min(DURATION, 5));
    console.log(
        `replica alone, 1 connection: p50 ${base.p50Ms.toFixed(3)} ms, p99 ${base.p99Ms.toFixed(3)} ms`,
    );

    // Every target runs (idle) for the whole bench, so rounds can interleave them.
    const targets = TARGETS.filter((t) => ONLY.length === 0 || ONLY.includes(t.name));
    const started: { name: string; url: string; pid: number; runs: Run[] }[] = [];
    for (const target of targets) {
        const { url, pid } = await target.start(replica);
        started.push({ name: target.name, url, pid: leafPid(pid), runs: [] });
        wrk(url, 16, 2); // warm-up: JIT, connection pools
    }
    for (let round = 0; round < REPEAT; round++) {
        for (const t of started) t.runs.push(measure(t.url, t.pid, DURATION));
    }
    const bare = started.find((t) => t.name === "bare-node");
    const bareCpu = bare ? median(bare.runs.map((r) => r.cpuUs)) : undefined;
    console.log(
        `${REPEAT} interleaved rounds of ${DURATION} s; CPU µs/request: median (min); ratio: median / bare-node's median`,
    );
    console.log(
        "target        | CPU µs/req (min) | × bare | req/s (16 conn) | p50 / p99 ms (16) | added p50 / p99 ms (1 conn)",
    );
    for (const t of started) {
        const one = wrk(t.url, 1, Math.min(DURATION, 5));
        const cpu = median(t.runs.map((r) => r.cpuUs));
        const min = Math.min(...t.runs.map((r) => r.cpuUs));
        console.log(
            [
                t.name.padEnd(13),
                `${fixed(cpu, 1, 9)} (${fixed(min, 0, 4)})`,
                bareCpu ? fixed(cpu / bareCpu, 2, 6) : "     -",
                fixed(median(t.runs.map((r) => r.rps)), 0, 15),
                `${median(t.runs.map((r) => r.p50)).toFixed(2)} / ${median(t.runs.map((r) => r.p99)).toFixed(2)}`.padStart(
                    17,
                ),
                `${(one.p50Ms - base.p50Ms).toFixed(3)} / ${(one.p99Ms - base.p99Ms).toFixed(3)}`.padStart(
                    27,
                ),
            ].join(" | "),
        );
        console.log(
            `${" ".repeat(13)}   runs: ${t.runs.map((r) => `${r.cpuUs.toFixed(0)} µs ${r.rps.toFixed(0)} rps`).join(", ")}`,
        );
    }
    if (TWO_ROUTERS)
        await twoRouters(
            replica,
            started.find((t) => t.name === "router"),
        );
}

/**
 * Two router processes, one per CPU, each driven by its own wrk at the same time: the requests/s
 * of both together against one alone, and each one's CPU per request (no shared state, so it
 * should not grow). On a 2-core machine wrk and the replica compete with the routers for the
 * same cores, so the sum is a floor of what a second core adds, not a ceiling.
 */
async function twoRouters(
    replica: string,
    one: { url: string; pid: number; runs: Run[] } | undefined,
): Promise<void> {
    const a = one ?? { ...(await routerTarget("router", {}, 1).start(replica)), runs: [] };
    const b = await routerTarget("router-b", {}, 0).start(replica);
    const pidA = leafPid(a.pid);
    const pidB = leafPid(b.pid);
    wrk(b.url, 16, 2);
    const results: { rps: number; cpuUs: number }[][] = [];
    for (let round = 0; round < REPEAT; round++) {
        const alone = measure(a.url, pidA, DURATION);
        const both = await Promise.all([
            measureAsync(a.url, pidA, DURATION, 0),
            measureAsync(b.url, pidB, DURATION, 1),
        ]);
        results.push([alone, ...both]);
    }
    const col = (i: number, k: "rps" | "cpuUs") => median(results.map((r) => r[i]![k]));
    console.log(
        `two router processes (one per CPU, a wrk each; ${REPEAT} rounds, medians): one alone ${col(0, "rps").toFixed(0)} req/s at ${col(0, "cpuUs").toFixed(1)} µs/req; both ${(col(1, "rps") + col(2, "rps")).toFixed(0)} req/s together (${col(1, "rps").toFixed(0)} + ${col(2, "rps").toFixed(0)}) at ${col(1, "cpuUs").toFixed(1)} and ${col(2, "cpuUs").toFixed(1)} µs/req`,
    );
}

/** `measure` with wrk run asynchronously, so two loads can run at once. */
async function measureAsync(url: string, pid: number, seconds: number, cpu: number): Promise<Run> {
    const before = cpuMicros(pid);
    const r = await wrkAsync(url, 16, seconds, cpu);
    return run(url, r, cpuMicros(pid) - before);
}

/** A measured run: every answer must be a 2xx; CPU per request from the process's CPU time. */
function run(url: string, r: WrkResult, cpuUsed: number): Run {
    if (r.non2xx > 0) throw new Error(`${url}: ${r.non2xx} non-2xx answers`);
    return { rps: r.rps, p50: r.p50Ms, p99: r.p99Ms, cpuUs: cpuUsed / r.requests };
}

function cleanup(): void {
    for (const c of children) c.kill("SIGKILL");
    if (tmp) rmSync(tmp, { recursive: true, force: true });
}

if (argv[0] === "bare-node") {
    void bareNode(Number(argv[1]), argv[2]!);
} else {
    main().then(
        () => {
            cleanup();
            process.exit(0);
        },
        (err: unknown) => {
            console.error(err);
            cleanup();
            process.exit(1);
        },
    );
}
