/**
 * Child processes of the launcher: started with their output in a log file, recorded by PID in the
 * state folder, and stopped by PID (SIGTERM, then SIGKILL after a grace period).
 *
 * Two lifetimes:
 * - `attached` (tests): each child runs under `setpriv --pdeathsig KILL`, so the kernel kills it if
 *   the test process dies in any way, including SIGKILL, where no exit hook runs;
 * - detached (`npm run cluster:up`): the children outlive the command and `cluster:down` stops
 *   them from the PID file.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Started {
    readonly name: string;
    readonly pid: number;
    readonly log: string;
}

export interface StartOptions {
    readonly name: string;
    readonly command: string;
    readonly args: readonly string[];
    readonly stateDir: string;
    readonly attached: boolean;
    readonly env?: NodeJS.ProcessEnv;
    /**
     * A recorded process this one takes the place of (a restart): the new entry goes where the
     * old one was in the PID file, so `stopAll` keeps stopping dependents first.
     */
    readonly replaces?: Started;
}

const PID_FILE = "pids.json";

export function readPids(stateDir: string): Started[] {
    const file = join(stateDir, PID_FILE);
    if (!existsSync(file)) return [];
    return JSON.parse(readFileSync(file, "utf8")) as Started[];
}

function writePids(stateDir: string, pids: Started[]): void {
    writeFileSync(join(stateDir, PID_FILE), JSON.stringify(pids, null, 2));
}

/** Starts one process and records it before returning, so a later stop finds it. */
export function startProcess(o: StartOptions): Started {
    const log = join(o.stateDir, `${o.name}.log`);
    const fd = openSync(log, "a");
    const [command, args] = o.attached
        ? ["setpriv", ["--pdeathsig", "KILL", "--", o.command, ...o.args]]
        : [o.command, [...o.args]];
    const child = spawn(command, args, {
        stdio: ["ignore", fd, fd],
        detached: !o.attached,
        env: o.env ?? process.env,
    });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`${o.name}: could not start ${o.command}`);
    if (!o.attached) child.unref();
    const started: Started = { name: o.name, pid: child.pid, log };
    const pids = readPids(o.stateDir);
    const at = o.replaces ? pids.findIndex((p) => p.pid === o.replaces!.pid) : -1;
    if (at >= 0) pids[at] = started;
    else pids.push(started);
    writePids(o.stateDir, pids);
    return started;
}

export function isAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Stops one process: SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it
 * is gone. Its PID file entry stays (a restart replaces it; `stopAll` skips dead entries).
 */
export async function stopProcess(p: Started, graceMs = 5000): Promise<void> {
    if (!isAlive(p.pid)) return;
    try {
        process.kill(p.pid, "SIGTERM");
    } catch {
        return;
    }
    const deadline = Date.now() + graceMs;
    while (isAlive(p.pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(p.pid)) {
        try {
            process.kill(p.pid, "SIGKILL");
        } catch {
            return; // exited in between
        }
        // Bounded: a process stuck in the kernel must not hang the caller forever.
        const killed = Date.now() + 5000;
        while (isAlive(p.pid) && Date.now() < killed) await sleep(50);
    }
}

/**
 * Stops every recorded process, newest first (dependents before what they depend on), waiting up
 * to `graceMs` for each to exit after SIGTERM before SIGKILL. Clears the PID file.
 */
export async function stopAll(stateDir: string, graceMs = 5000): Promise<void> {
    for (const p of readPids(stateDir).reverse()) await stopProcess(p, graceMs);
    writePids(stateDir, []);
}

/** Synchronous last resort for process exit hooks: SIGKILL everything recorded. */
export function killAllSync(stateDir: string): void {
    for (const p of readPids(stateDir)) {
        try {
            process.kill(p.pid, "SIGKILL");
        } catch {
            // already gone
        }
    }
}

/** The last lines of a log, for error messages. */
export function tail(log: string, lines = 30): string {
    if (!existsSync(log)) return "";
    return readFileSync(log, "utf8").split("\n").slice(-lines).join("\n");
}
