/**
 * Helpers of the local-runtime tests: start real processes (the Python harness, the CLI) on
 * 127.0.0.1 with ports chosen by the OS, wait for their output, and clean them up by pid.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as http from "node:http";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

export const ROOT = resolve(__dirname, "..", "..");
export const FIXTURES = join(__dirname, "fixtures");
export const HARNESS = join(ROOT, "runtime", "python", "amlserver.py");
export const CLI = join(ROOT, "runtime", "cli.ts");
export const PYTHON = process.env.AMLAKS_PYTHON ?? "python3";
/** tsx's loader by absolute URL, so the CLI can run with any working directory. */
const TSX = pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;

/** A child process whose output is collected line by line. */
export class Proc {
    readonly child: ChildProcess;
    stdout = "";
    stderr = "";
    readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    private waiters: Array<() => void> = [];

    constructor(
        command: string,
        args: string[],
        opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: "pipe" | "ignore" } = {},
    ) {
        this.child = spawn(command, args, {
            env: { ...process.env, ...opts.env },
            cwd: opts.cwd ?? ROOT,
            stdio: [opts.stdin ?? "ignore", "pipe", "pipe"],
        });
        this.child.stdout?.setEncoding("utf8").on("data", (d: string) => {
            this.stdout += d;
            this.wake();
        });
        this.child.stderr?.setEncoding("utf8").on("data", (d: string) => {
            this.stderr += d;
            this.wake();
        });
        this.exited = new Promise((res) =>
            this.child.once("exit", (code, signal) => {
                // Let the last output arrive.
                setTimeout(() => {
                    res({ code, signal });
                    this.wake();
                }, 50);
            }),
        );
    }

    get pid(): number {
        return this.child.pid as number;
    }

    private wake(): void {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
    }

    /** Resolves with the first match of `re` in stdout+stderr; rejects on timeout or exit. */
    async waitFor(
        re: RegExp,
        timeoutMs = 20_000,
        where: "stdout" | "stderr" | "both" = "both",
    ): Promise<RegExpMatchArray> {
        const deadline = Date.now() + timeoutMs;
        let exited = false;
        void this.exited.then(() => (exited = true));
        for (;;) {
            const text =
                where === "stdout"
                    ? this.stdout
                    : where === "stderr"
                      ? this.stderr
                      : `${this.stdout}\n${this.stderr}`;
            const m = text.match(re);
            if (m) return m;
            if (exited)
                throw new Error(
                    `process exited before ${re} appeared\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
                );
            const left = deadline - Date.now();
            if (left <= 0)
                throw new Error(
                    `timed out waiting for ${re}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
                );
            await new Promise<void>((res) => {
                const t = setTimeout(res, Math.min(left, 200));
                this.waiters.push(() => {
                    clearTimeout(t);
                    res();
                });
            });
        }
    }

    /** Sends `signal` (default SIGTERM) unless already exited, then waits for the exit. */
    async stop(
        signal: NodeJS.Signals = "SIGTERM",
    ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
        if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
        return this.exited;
    }
}

/** Starts the harness on a free port; resolves once it listens. */
export async function startHarness(
    script: string,
    opts: {
        env?: NodeJS.ProcessEnv;
        args?: string[];
        sourceDir?: string;
        stdin?: "pipe" | "ignore";
    } = {},
): Promise<{ proc: Proc; url: string }> {
    const proc = new Proc(
        PYTHON,
        [
            HARNESS,
            "--entry-script",
            script,
            "--source-dir",
            opts.sourceDir ?? FIXTURES,
            "--port",
            "0",
            ...(opts.args ?? []),
        ],
        { env: { PYTHONDONTWRITEBYTECODE: "1", ...opts.env }, stdin: opts.stdin },
    );
    const m = await proc.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 20_000, "stdout");
    return { proc, url: m[1] };
}

export interface Reply {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

/** One HTTP request with a fresh connection (no keep-alive state shared between tests). */
export function request(
    url: string,
    opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
    return new Promise((res, rej) => {
        const req = http.request(
            url,
            { method: opts.method ?? "GET", headers: opts.headers, agent: false },
            (r) => {
                const chunks: Buffer[] = [];
                r.on("data", (c: Buffer) => chunks.push(c));
                r.on("end", () =>
                    res({
                        status: r.statusCode ?? 0,
                        headers: r.headers,
                        body: Buffer.concat(chunks).toString("utf8"),
                    }),
                );
                r.on("error", rej);
            },
        );
        req.on("error", rej);
        req.end(opts.body);
    });
}

export function pidAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

/** Waits until `pred` is true or `timeoutMs` passed; returns the last value of `pred`. */
export async function eventually(
    pred: () => boolean | Promise<boolean>,
    timeoutMs = 10_000,
    stepMs = 50,
): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (await pred()) return true;
        if (Date.now() >= deadline) return false;
        await new Promise((r) => setTimeout(r, stepMs));
    }
}

/** Starts `amlaks serve` (through tsx) with `--port 0`; resolves once the service is ready. */
export async function startServe(
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{
    proc: Proc;
    scoringUri: string;
    swaggerUri: string;
    metricsUri: string;
    keysFile: string;
}> {
    const proc = new Proc(
        process.execPath,
        ["--import", TSX, CLI, "serve", "--port", "0", ...args],
        {
            env: opts.env,
            cwd: opts.cwd,
        },
    );
    // The last line of the ready report: everything above it has arrived.
    await proc.waitFor(/Ctrl-C stops the service/, 60_000, "stdout");
    const scoringUri = (await proc.waitFor(/scoring URI:\s+(\S+)/, 1000, "stdout"))[1];
    const swaggerUri = (await proc.waitFor(/swagger URI:\s+(\S+)/, 1000, "stdout"))[1];
    const metricsUri = (await proc.waitFor(/metrics:\s+(\S+)/, 1000, "stdout"))[1];
    const keys = proc.stdout.match(/keys \((?:generated|reused)\): (\S+)/);
    const keysFile = keys ? resolve(opts.cwd ?? ROOT, keys[1]) : "";
    return { proc, scoringUri, swaggerUri, metricsUri, keysFile };
}

/** Runs the CLI to completion (for argument errors). */
export async function runCli(
    args: string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const proc = new Proc(process.execPath, ["--import", TSX, CLI, ...args], {
        cwd: opts.cwd,
        env: opts.env,
    });
    const { code } = await proc.exited;
    return { code, stdout: proc.stdout, stderr: proc.stderr };
}
