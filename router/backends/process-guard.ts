/**
 * No orphaned replicas. Each replica runs in its own process group (spawned with
 * `detached: true`) so that:
 * - stopping it signals the whole group (a wrapper such as `conda run` and its Python child);
 * - Ctrl-C in a terminal reaches only the parent, which drains and stops replicas in order
 *   instead of every replica dying at once with requests in flight.
 * If the parent exits normally (`process.exit`, end of the event loop, an uncaught exception),
 * the `exit` hook below SIGKILLs every group still alive. If the parent is killed (SIGKILL, OOM)
 * no hook runs: the replica's own watchdog takes over — the child's stdin is a pipe the parent
 * never writes to and `AMLAKS_PARENT_PID` names the parent; the model server must exit when its
 * stdin reaches EOF or that pid no longer exists (the Python harness and the test fake do).
 */

const live = new Set<number>();
let hooked = false;

/**
 * Sends `signal` to the process group led by `pid`, falling back to the process alone unless
 * `groupOnly` (use that once the leader was reaped: its pid may be reused, but Linux does not
 * reuse a number still in use as a process group id, so the group signal stays safe).
 */
export function signalGroup(pid: number, signal: NodeJS.Signals, groupOnly = false): boolean {
    try {
        process.kill(-pid, signal);
        return true;
    } catch {
        if (groupOnly) return false;
        try {
            process.kill(pid, signal);
            return true;
        } catch {
            return false;
        }
    }
}

function killAllNow(): void {
    for (const pid of live) signalGroup(pid, "SIGKILL");
    live.clear();
}

/** Tracks a replica's pid until `release`; killed if this process exits first. */
export function guardChild(pid: number): void {
    if (!hooked) {
        hooked = true;
        process.on("exit", killAllNow);
    }
    live.add(pid);
}

export function releaseChild(pid: number): void {
    live.delete(pid);
}

/** Pids currently guarded (diagnostics, tests). */
export function guardedPids(): number[] {
    return [...live];
}
