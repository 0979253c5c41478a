import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalBackend, ReplicaFailedError, type ReplicaEvent } from "../../router/backends/local";
import { ValidationError } from "../../components/common/validation";
import {
    RecordingListener,
    capturingLogger,
    definition,
    fakeService,
    httpGet,
    isAlive,
    waitFor,
} from "./local-backend-helpers";

const T = { timeout: 30_000 };

describe("LocalBackend: replicas as processes", () => {
    test("starts N replicas, each on its own SERVER_PORT, reported once healthy", T, async () => {
        const listener = new RecordingListener();
        const backend = new LocalBackend({
            services: [fakeService("svc-start", {}, { initialReplicas: 2 })],
        });
        try {
            await backend.start(listener);
            assert.deepEqual(listener.services, ["svc-start"]);
            assert.equal(backend.kind, "local");
            assert.equal(backend.currentReplicas("svc-start"), 2);
            await backend.firstReady("svc-start");
            const ready = await waitFor(
                () => listener.ready("svc-start").length === 2 && listener.ready("svc-start"),
                "2 ready replicas",
            );
            assert.deepEqual(
                ready.map((r) => r.id),
                ["svc-start-1", "svc-start-2"],
            );
            const ports = new Set<string>();
            for (const r of ready) {
                assert.match(r.url, /^http:\/\/127\.0\.0\.1:\d+$/);
                const res = await httpGet(`${r.url}/score`, "POST");
                assert.equal(res.status, 200);
                const body = JSON.parse(res.body) as { replica: string; port: number };
                assert.equal(body.replica, r.id, "AMLAKS_REPLICA_ID reaches the replica");
                assert.equal(`${body.port}`, new URL(r.url).port, "SERVER_PORT is the URL's port");
                ports.add(new URL(r.url).port);
            }
            assert.equal(ports.size, 2);
            const info = backend.replicas("svc-start");
            assert.ok(info.every((r) => r.state === "ready" && typeof r.pid === "number"));
        } finally {
            await backend.stop();
        }
    });

    test(
        "a replica whose port answers 503 during init is not routed to before GET / is 200",
        T,
        async () => {
            const listener = new RecordingListener();
            const events: ReplicaEvent[] = [];
            const backend = new LocalBackend({
                services: [fakeService("svc-slow", { FAKE_INIT_DELAY_MS: "1500" })],
                onReplicaEvent: (e) => events.push(e),
            });
            try {
                await backend.start(listener);
                const started = await waitFor(
                    () => events.find((e) => e.type === "starting"),
                    "spawn",
                );
                const url = `http://127.0.0.1:${started.port}`;
                // The port is open but the model is still initializing.
                const early = await waitForAsync(async () => {
                    try {
                        return await httpGet(`${url}/`);
                    } catch {
                        return undefined; // not listening yet
                    }
                });
                assert.equal(early.status, 503);
                assert.deepEqual(listener.ready("svc-slow"), [], "not reported while initializing");
                assert.equal(backend.replicas("svc-slow")[0].state, "starting");
                await backend.firstReady("svc-slow");
                assert.deepEqual(
                    listener.ready("svc-slow").map((r) => r.url),
                    [url],
                );
                assert.equal((await httpGet(`${url}/`)).status, 200);
                // Every update before readiness was empty: the replica was never routable early.
                const firstWithReplica = listener.updates.findIndex((u) => u.ids.length > 0);
                assert.ok(
                    listener.updates.slice(0, firstWithReplica).every((u) => u.ids.length === 0),
                );
            } finally {
                await backend.stop();
            }
        },
    );

    test("a crashed replica leaves the ready set at once and is replaced", T, async () => {
        const listener = new RecordingListener();
        const events: ReplicaEvent[] = [];
        const backend = new LocalBackend({
            services: [fakeService("svc-crash", {}, { initialReplicas: 2 })],
            onReplicaEvent: (e) => events.push(e),
            restartBackoffMs: 200,
        });
        try {
            await backend.start(listener);
            await waitFor(() => listener.ready("svc-crash").length === 2, "2 ready");
            const [victim, survivor] = backend.replicas("svc-crash");
            const mark = listener.updates.length;
            process.kill(victim.pid as number, "SIGKILL");
            await waitFor(
                () => listener.ready("svc-crash").some((r) => r.id === "svc-crash-3") && true,
                "replacement ready",
            );
            const after = listener.updates.slice(mark).map((u) => u.ids);
            assert.deepEqual(after[0], [survivor.id], "removed before the replacement was ready");
            assert.deepEqual(after.at(-1), [survivor.id, "svc-crash-3"]);
            assert.equal(backend.currentReplicas("svc-crash"), 2);
            const failed = events.find((e) => e.type === "failed");
            assert.equal(failed?.replica, victim.id);
            assert.ok(failed?.error instanceof ReplicaFailedError);
            assert.match(failed.error.message, /was killed by SIGKILL/);
        } finally {
            await backend.stop();
        }
    });

    test("scaleTo: up without waiting for start-up, down stops the victims first", T, async () => {
        const listener = new RecordingListener();
        const backend = new LocalBackend({ services: [fakeService("svc-scale")] });
        try {
            await backend.start(listener);
            await backend.firstReady("svc-scale");
            await backend.scaleTo("svc-scale", 3, []);
            assert.equal(backend.currentReplicas("svc-scale"), 3);
            assert.deepEqual(
                backend.replicas("svc-scale").map((r) => r.state),
                ["ready", "starting", "starting"],
                "scaleTo returned before the new replicas were ready",
            );
            await waitFor(() => listener.ready("svc-scale").length === 3, "3 ready");
            const byId = new Map(backend.replicas("svc-scale").map((r) => [r.id, r.pid as number]));
            await backend.scaleTo("svc-scale", 1, ["svc-scale-1", "svc-scale-3"]);
            assert.equal(isAlive(byId.get("svc-scale-1") as number), false);
            assert.equal(isAlive(byId.get("svc-scale-3") as number), false);
            assert.equal(isAlive(byId.get("svc-scale-2") as number), true);
            assert.deepEqual(
                listener.ready("svc-scale").map((r) => r.id),
                ["svc-scale-2"],
            );
            assert.equal(backend.currentReplicas("svc-scale"), 1);
        } finally {
            await backend.stop();
        }
    });

    test(
        "scaling down removes starting replicas, never a ready one the router did not name",
        T,
        async () => {
            const listener = new RecordingListener();
            const backend = new LocalBackend({ services: [fakeService("svc-keep")] });
            try {
                await backend.start(listener);
                await backend.firstReady("svc-keep");
                await backend.scaleTo("svc-keep", 2, []);
                await waitFor(() => listener.ready("svc-keep").length === 2, "2 ready");
                // The third replica is still starting (not even spawned) when the count drops.
                await backend.scaleTo("svc-keep", 3, []);
                const starting = backend.replicas("svc-keep").find((r) => r.state === "starting");
                assert.ok(starting);
                await backend.scaleTo("svc-keep", 1, []);
                const left = backend.replicas("svc-keep");
                assert.deepEqual(
                    left.map((r) => [r.id, r.state]),
                    [
                        ["svc-keep-1", "ready"],
                        ["svc-keep-2", "ready"],
                    ],
                    "the starting replica went; both ready ones stay (not named as victims)",
                );
                assert.equal(backend.currentReplicas("svc-keep"), 2);
                await backend.scaleTo("svc-keep", 1, ["svc-keep-2"]);
                assert.equal(backend.currentReplicas("svc-keep"), 1);
            } finally {
                await backend.stop();
            }
        },
    );

    test("init failure on first start rejects firstReady with the stderr tail", T, async () => {
        const backend = new LocalBackend({
            services: [fakeService("svc-broken", { FAKE_INIT_FAIL: "model.pkl not found" })],
            restartBackoffMs: 5_000,
        });
        try {
            await backend.start(new RecordingListener());
            const err = await backend.firstReady("svc-broken").then(
                () => assert.fail("firstReady resolved"),
                (e: unknown) => e,
            );
            assert.ok(err instanceof ReplicaFailedError);
            assert.equal(err.service, "svc-broken");
            assert.equal(err.exitCode, 1);
            assert.match(err.stderrTail, /RuntimeError: model\.pkl not found/);
            assert.match(err.message, /exited with code 1 before it was ready/);
            assert.match(err.message, /RuntimeError: model\.pkl not found/);
            // Replacement is scheduled with backoff, not a tight loop.
            assert.equal(backend.currentReplicas("svc-broken"), 1);
            assert.deepEqual(backend.replicas("svc-broken"), []);
        } finally {
            await backend.stop();
        }
    });

    test("a replica not healthy within readinessTimeoutMs is killed and reported", T, async () => {
        const events: ReplicaEvent[] = [];
        const backend = new LocalBackend({
            services: [
                fakeService(
                    "svc-hang",
                    { FAKE_INIT_DELAY_MS: "60000" },
                    { readinessTimeoutMs: 700 },
                ),
            ],
            onReplicaEvent: (e) => events.push(e),
            restartBackoffMs: 60_000,
        });
        try {
            await backend.start(new RecordingListener());
            const err = await backend.firstReady("svc-hang").then(
                () => assert.fail("firstReady resolved"),
                (e: unknown) => e as ReplicaFailedError,
            );
            assert.match(err.message, /did not answer GET \/ with 200 within 700 ms/);
            const pid = events.find((e) => e.type === "starting")?.pid as number;
            assert.equal(isAlive(pid), false);
        } finally {
            await backend.stop();
        }
    });

    test("losing the port race (EADDRINUSE) retries on a new port without failing", T, async () => {
        const dir = mkdtempSync(path.join(os.tmpdir(), "amlaks-port-"));
        const events: ReplicaEvent[] = [];
        const backend = new LocalBackend({
            services: [fakeService("svc-port", { FAKE_FAIL_ONCE_FILE: path.join(dir, "once") })],
            onReplicaEvent: (e) => events.push(e),
        });
        try {
            await backend.start(new RecordingListener());
            await backend.firstReady("svc-port");
            assert.deepEqual(
                events.filter((e) => e.type !== "starting").map((e) => [e.type, e.replica]),
                [["ready", "svc-port-2"]],
            );
        } finally {
            await backend.stop();
        }
    });

    test("a command that cannot start rejects firstReady", T, async () => {
        const backend = new LocalBackend({
            services: [
                { ...fakeService("svc-enoent"), command: ["/nonexistent/amlaks-model-server"] },
            ],
        });
        try {
            await backend.start(new RecordingListener());
            await assert.rejects(
                backend.firstReady("svc-enoent"),
                /could not be started: .*ENOENT/,
            );
        } finally {
            await backend.stop();
        }
    });

    test("replica output is logged line by line with the replica id", T, async () => {
        const lines: Record<string, unknown>[] = [];
        const backend = new LocalBackend({
            services: [fakeService("svc-logs")],
            logger: capturingLogger(lines),
        });
        try {
            await backend.start(new RecordingListener());
            await backend.firstReady("svc-logs");
            const line = await waitFor(
                () =>
                    lines.find((l) => String(l.msg).endsWith("fake model server svc-logs-1 ready")),
                "forwarded stdout line",
            );
            assert.equal(line.msg, "[svc-logs-1] fake model server svc-logs-1 ready");
            assert.equal(line.replica, "svc-logs-1");
            assert.equal(line.service, "svc-logs");
            assert.equal(line.stream, "stdout");
        } finally {
            await backend.stop();
        }
    });

    test(
        "stop() leaves no process behind, escalating to SIGKILL when SIGTERM is ignored",
        T,
        async () => {
            const listener = new RecordingListener();
            const backend = new LocalBackend({
                services: [
                    fakeService("svc-stop", {}, { initialReplicas: 2 }),
                    fakeService("svc-stubborn", { FAKE_IGNORE_SIGTERM: "1" }),
                    fakeService("svc-initing", { FAKE_INIT_DELAY_MS: "60000" }),
                ],
                stopGraceMs: 300,
            });
            await backend.start(listener);
            await waitFor(() => listener.ready("svc-stop").length === 2, "2 ready");
            await backend.firstReady("svc-stubborn");
            await waitFor(() => backend.replicas("svc-initing")[0]?.pid, "initing pid");
            const pids = ["svc-stop", "svc-stubborn", "svc-initing"].flatMap((s) =>
                backend.replicas(s).map((r) => r.pid as number),
            );
            assert.equal(pids.length, 4);
            assert.ok(pids.every(isAlive));
            await backend.stop();
            for (const pid of pids) {
                assert.throws(() => process.kill(pid, 0), /ESRCH/, `pid ${pid} still exists`);
            }
            assert.deepEqual(listener.ready("svc-stop"), []);
            await assert.rejects(
                backend.firstReady("svc-initing"),
                /stopped before a replica was ready/,
            );
            await backend.stop(); // idempotent
        },
    );

    test("addService / removeService at run time", T, async () => {
        const listener = new RecordingListener();
        const backend = new LocalBackend({ services: [] });
        try {
            await backend.start(listener);
            backend.addService(fakeService("svc-late"));
            await backend.firstReady("svc-late");
            const pid = backend.replicas("svc-late")[0].pid as number;
            await backend.removeService("svc-late");
            assert.equal(isAlive(pid), false);
            assert.deepEqual(listener.services, ["svc-late"]);
            assert.deepEqual(listener.removed, ["svc-late"]);
            assert.throws(() => backend.currentReplicas("svc-late"), /unknown service/);
        } finally {
            await backend.stop();
        }
    });

    test("bad specs are rejected up front, every problem at once", () => {
        assert.throws(
            () =>
                new LocalBackend({
                    services: [
                        { definition: definition("svc-bad", { numReplicas: 1 }), command: [] },
                        {
                            ...fakeService("svc-bad"),
                            readinessTimeoutMs: -1,
                            initialReplicas: 1.5,
                        },
                    ],
                    stopGraceMs: -5,
                }),
            (err: unknown) => {
                assert.ok(err instanceof ValidationError);
                assert.deepEqual(
                    err.problems.map((p) => p.field),
                    [
                        "services[0].command",
                        "services[1].readinessTimeoutMs",
                        "services[1].initialReplicas",
                        "services",
                        "stopGraceMs",
                    ],
                );
                return true;
            },
        );
        const backend = new LocalBackend({ services: [fakeService("svc-count")] });
        return assert.rejects(backend.scaleTo("svc-count", -1, []), ValidationError);
    });
});

/** Polls an async probe until it yields a value. */
async function waitForAsync<T>(fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error("timed out");
        await new Promise((r) => setTimeout(r, 25));
    }
}
