/** Helpers shared by the benchmarks (run by hand): ports, CPU pinning, child processes, nginx, wrk. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.listen(0, "127.0.0.1", () => {
            const p = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(p));
        });
    });
}

/** `cmd cmdArgs` pinned on `cpu` with taskset (Linux; elsewhere unpinned). */
export function pinned(cpu: number, cmd: string, cmdArgs: string[]): [string, string[]] {
    return process.platform === "linux"
        ? ["taskset", ["-c", String(cpu), cmd, ...cmdArgs]]
        : [cmd, cmdArgs];
}

/**
 * Runs `file` again as a pinned child (`tsx file ...childArgs`) that sends an IPC message once
 * it is ready; the child is added to `children` for clean-up.
 */
export function startNodeChild(
    children: ChildProcess[],
    file: string,
    cpu: number,
    childArgs: string[],
): Promise<ChildProcess> {
    const [cmd, a] = pinned(cpu, process.execPath, ["--import", "tsx", file, ...childArgs]);
    const child = spawn(cmd, a, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.push(child);
    return new Promise((resolve, reject) => {
        child.once("message", () => resolve(child));
        child.once("exit", (code) => reject(new Error(`${childArgs[0]} exited ${code}`)));
    });
}

/** nginx.conf for one foreground worker with its files under `dir`, around `httpBody`. */
export function nginxConfig(dir: string, name: string, httpBody: string): string {
    return `worker_processes 1;
daemon off;
master_process off;
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}.err`)} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/${name}-body;
  proxy_temp_path ${dir}/${name}-proxy;
  fastcgi_temp_path ${dir}/${name}-fcgi;
  uwsgi_temp_path ${dir}/${name}-uwsgi;
  scgi_temp_path ${dir}/${name}-scgi;
  keepalive_requests 1000000;
  ${httpBody}
}
`;
}

/** What one wrk run printed: requests, rate, latency percentiles (ms) and failures. */
export interface WrkResult {
    readonly requests: number;
    readonly rps: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly non2xx: number;
    /** connect + read + write + timeout socket errors. */
    readonly socketErrors: number;
}

/** A wrk Lua script in `dir`: POST `body` with these headers (JSON content type added). */
export function wrkScript(
    dir: string,
    body: string,
    headers: Record<string, string> = {},
    extraLua = "",
): string {
    const script = join(dir, "bench.lua");
    const hdr = Object.entries({ "Content-Type": "application/json", ...headers })
        .map(([k, v]) => `wrk.headers["${k}"] = "${v}"`)
        .join("\n");
    writeFileSync(script, `wrk.method = "POST"\nwrk.body = '${body}'\n${hdr}\n${extraLua}\n`);
    return script;
}

/** wrk's arguments for one thread, pinned on `cpu` (the load CPU unless two loads run at once). */
export function wrkCommand(
    script: string,
    url: string,
    seconds: number,
    opts: { readonly connections?: number; readonly cpu?: number } = {},
): [string, string[]] {
    return pinned(opts.cpu ?? 0, "wrk", [
        "-t1",
        `-c${opts.connections ?? 16}`,
        `-d${seconds}s`,
        "--latency",
        "-s",
        script,
        url,
    ]);
}

/** Runs wrk (see {@link wrkCommand}) and parses what it printed. */
export function runWrk(...args: Parameters<typeof wrkCommand>): WrkResult {
    const [cmd, a] = wrkCommand(...args);
    const out = spawnSync(cmd, a, { encoding: "utf8" });
    if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr}`);
    return parseWrk(out.stdout);
}

/** Parses wrk's `--latency` output; a value it did not print is NaN. */
export function parseWrk(text: string): WrkResult {
    const pct = (p: string): number => {
        const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(text);
        return m ? toMs(m[1]!) : NaN;
    };
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
    return {
        requests: Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN),
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
        p50Ms: pct("50"),
        p99Ms: pct("99"),
        non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0),
        socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    };
}

/** A wrk duration (`812.00us`, `1.20ms`, `2.01s`, `1.5m`) in milliseconds. */
function toMs(v: string): number {
    const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
    if (!m) return NaN;
    const n = Number(m[1]);
    return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

/** Clock ticks per second of /proc/<pid>/stat times. */
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;

/** CPU time (user + system, all threads) a process has used so far, in microseconds. */
export function cpuMicros(pid: number): number {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
}
