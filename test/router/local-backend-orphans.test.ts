import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { isAlive, waitFor } from "./local-backend-helpers";

const PARENT = path.join(__dirname, "..", "support", "local-backend-parent.ts");

/**
 * Starts a parent process running a LocalBackend with 2 fake replicas and returns it with the
 * replicas' pids once they are ready.
 */
async function startParent(env: Record<string, string>) {
    const parent = spawn(process.execPath, ["--import", "tsx", PARENT], {
        env: { ...process.env, REPLICAS: "2", ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    parent.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const lines = readline.createInterface({ input: parent.stdout });
    const pids = await new Promise<number[]>((resolve, reject) => {
        lines.once("line", (line) => resolve((JSON.parse(line) as { pids: number[] }).pids));
        parent.once("exit", (code) => reject(new Error(`parent exited (${code}): ${stderr}`)));
    });
    const exited = new Promise<void>((resolve) => {
        if (parent.exitCode !== null || parent.signalCode !== null) resolve();
        else parent.once("exit", () => resolve());
    });
    return { parent, pids, exited };
}

const T = { timeout: 30_000 };

describe("LocalBackend: no orphaned replicas", () => {
    for (const watchdog of ["stdin", "pid"]) {
        test(
            `parent SIGKILLed → replicas exit (replica watches ${watchdog === "stdin" ? "stdin EOF" : "AMLAKS_PARENT_PID"})`,
            T,
            async () => {
                const { parent, pids, exited } = await startParent({ FAKE_WATCHDOG: watchdog });
                assert.equal(pids.length, 2);
                assert.ok(pids.every(isAlive));
                parent.kill("SIGKILL");
                await exited;
                await waitFor(() => pids.every((pid) => !isAlive(pid)), "replicas to exit", 5_000);
            },
        );
    }

    test(
        "control: a replica without the watchdog outlives a SIGKILLed parent (why the contract exists)",
        T,
        async () => {
            const { parent, pids, exited } = await startParent({ FAKE_WATCHDOG: "none" });
            try {
                parent.kill("SIGKILL");
                await exited;
                await new Promise((r) => setTimeout(r, 1_000));
                assert.ok(pids.every(isAlive), "this check would not notice orphans otherwise");
            } finally {
                for (const pid of pids) {
                    try {
                        process.kill(-pid, "SIGKILL");
                    } catch {
                        // already gone
                    }
                }
            }
        },
    );

    test("parent exits without stop() → its exit hook kills the replicas", T, async () => {
        // The replicas ignore their parent here: only the backend's exit hook can end them.
        const { pids, exited } = await startParent({ FAKE_WATCHDOG: "none", PARENT_MODE: "exit" });
        await exited;
        await waitFor(() => pids.every((pid) => !isAlive(pid)), "replicas to exit", 5_000);
    });
});
