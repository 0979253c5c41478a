/**
 * A collector that hangs and one that is unreachable never slow or fail scoring: spans wait in a
 * bounded queue, excess spans are dropped and counted, a bounded number of exports hang at once,
 * failures are logged without the connection string, and closing is bounded by the export timeout.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { Registry } from "prom-client";
import { TelemetryObserver } from "../../../router/telemetry";
import { ReplicaServer } from "../../support/replica-server";
import { eventually, memoryLogger, score, startHarness, type Harness } from "../core-harness";
import { OtlpReceiver } from "./receivers";

const IKEY = "5d7c0a4e-9b8f-4c3d-a2e1-f0e9d8c7b6a5";
const EXPORT_TIMEOUT_MS = 5000;
const MAX_QUEUE = 40;
const BATCH = 10;

async function closedPort(): Promise<number> {
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
}

describe("stalled and unreachable collectors", { timeout: 60_000 }, () => {
    let hung: OtlpReceiver;
    let replica: ReplicaServer;
    let observer: TelemetryObserver;
    let h: Harness;
    const logs: Record<string, unknown>[] = [];
    const latencies: number[] = [];
    const statuses = new Map<number, number>();
    let maxQueued = 0;
    let connectionString: string;

    before(async () => {
        hung = await new OtlpReceiver({ mode: "hang" }).start();
        replica = await ReplicaServer.start({ id: "fast" });
        connectionString = `InstrumentationKey=${IKEY};IngestionEndpoint=https://127.0.0.1:${await closedPort()}/`;
        observer = new TelemetryObserver({
            destinations: [
                { kind: "otlp", url: hung.tracesUrl },
                { kind: "azure-monitor", connectionString },
            ],
            maxQueueSize: MAX_QUEUE,
            maxExportBatchSize: BATCH,
            scheduledDelayMs: 10,
            exportTimeoutMs: EXPORT_TIMEOUT_MS,
            logger: memoryLogger(logs),
        });
        observer.start(); // overlap the worker start-up with the set-up
        h = await startHarness({
            router: { observers: [observer] },
            services: [
                {
                    settings: {
                        name: "busy",
                        authEnabled: false,
                        enableAppInsights: true,
                        replicaMaxConcurrentRequests: 8,
                    },
                    replicas: [replica.replica],
                },
            ],
        });
        const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
        let next = 0;
        const worker = async (): Promise<void> => {
            while (next < 400) {
                next++;
                const t0 = performance.now();
                const r = await score(h.url, "busy", { agent });
                latencies.push(performance.now() - t0);
                statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            }
        };
        let sampling = true;
        const sampler = (async () => {
            while (sampling) {
                for (const s of await observer.stats()) maxQueued = Math.max(maxQueued, s.queued);
                await new Promise((r) => setTimeout(r, 20));
            }
        })();
        await Promise.all(Array.from({ length: 8 }, worker));
        sampling = false;
        await sampler;
        agent.destroy();
    });

    after(async () => {
        await h?.close();
        await replica?.close();
        await hung?.close();
    });

    test("every request is answered, none waits for an export", () => {
        assert.deepEqual([...statuses], [[200, 400]]);
        // An export waits up to 5 s at the hung collector; a request that waited for one would
        // take that long. The bound is far above a loopback request and far below the timeout.
        const worst = Math.max(...latencies);
        assert.ok(worst < EXPORT_TIMEOUT_MS / 2, `slowest request ${worst.toFixed(1)} ms`);
    });

    test("the queue stays bounded; what does not fit is dropped and counted", async () => {
        // MAX_QUEUE spans on their way to the worker, MAX_QUEUE waiting for export in it.
        assert.ok(maxQueued <= 2 * MAX_QUEUE, `queued at most ${maxQueued}`);
        const [otlp, azure] = await observer.stats();
        // 400 requests × 2 spans for each destination.
        for (const s of [otlp, azure]) {
            assert.equal(s.exported, 0, `${s.destination}: nothing accepted`);
            const total = s.queued + s.exporting + s.failed + s.droppedQueueFull;
            assert.equal(total, 800, `${s.destination}: every span accounted for`);
        }
        assert.ok(otlp.droppedQueueFull > 0, "hung collector: queue overflowed");
        assert.ok(azure.failed > 0, "unreachable endpoint: failed batches");
    });

    test("a bounded number of exports hang at the collector at once", () => {
        assert.ok(hung.requests.length >= 1, "exports reached the collector");
        // queue ÷ batch size + 1
        const bound = MAX_QUEUE / BATCH + 1;
        assert.ok(hung.maxOpenConnections <= bound, `${hung.maxOpenConnections} at once`);
    });

    test("counters on /metrics", async () => {
        const registry = new Registry();
        observer.registerMetrics(registry);
        // Exports keep failing in the background: the scrape lies between two readings.
        const before = await observer.stats();
        const text = await registry.metrics();
        const after = await observer.stats();
        const value = (destination: string, outcome: string): number => {
            const m = new RegExp(
                `amlaks_router_telemetry_spans_total\\{destination="${destination}",outcome="${outcome}"\\} (\\d+)`,
            ).exec(text);
            assert.ok(m, `${destination} ${outcome} in ${text}`);
            return Number(m[1]);
        };
        const between = (v: number, a: number, b: number, what: string): void =>
            assert.ok(a <= v && v <= b, `${what}: ${a} <= ${v} <= ${b}`);
        between(
            value("otlp", "queue_full"),
            before[0].droppedQueueFull,
            after[0].droppedQueueFull,
            "otlp queue_full",
        );
        between(
            value("azure-monitor", "failed"),
            before[1].failed,
            after[1].failed,
            "azure failed",
        );
        assert.ok(value("otlp", "queue_full") > 0);
        assert.equal(value("otlp", "exported"), 0);
        assert.match(text, /amlaks_router_telemetry_queued_spans\{destination="otlp"\} \d+/);
    });

    test("export failures are logged once per minute, without the connection string", async () => {
        const lines = logs.filter((l) => l.msg === "telemetry export failed; spans dropped");
        const destinations = lines.map((l) => l.destination).sort();
        // The hung export fails only at its timeout; the unreachable one at once.
        const failing = (await observer.stats())
            .filter((s) => s.failed > 0)
            .map((s) => s.destination)
            .sort();
        assert.ok(failing.includes("azure-monitor"));
        assert.deepEqual(destinations, failing, "one line per failing destination");
        for (const l of lines) assert.ok((l.droppedSpans as number) > 0);
        const all = JSON.stringify(logs);
        assert.ok(!all.includes(IKEY) && !all.includes(connectionString));
    });
});

describe("closing with an export hanging at the collector", { timeout: 30_000 }, () => {
    test("waits for the export at most exportTimeoutMs, then returns", async () => {
        const hung = await new OtlpReceiver({ mode: "hang" }).start();
        const replica = await ReplicaServer.start({ id: "fast" });
        const observer = new TelemetryObserver({
            destinations: [{ kind: "otlp", url: hung.tracesUrl }],
            scheduledDelayMs: 10,
            exportTimeoutMs: 1500,
        });
        observer.start(); // overlap the worker start-up with the set-up
        const h = await startHarness({
            router: { observers: [observer] },
            services: [
                {
                    settings: { name: "one", authEnabled: false, enableAppInsights: true },
                    replicas: [replica.replica],
                },
            ],
        });
        try {
            assert.equal((await score(h.url, "one")).status, 200);
            await eventually(() => hung.requests.length === 1, 5000, "the export at the collector");
            const t0 = Date.now();
            await observer.close();
            const ms = Date.now() - t0;
            assert.ok(ms < 1500 + 1000, `closed in ${ms} ms`);
            assert.deepEqual(
                (await observer.stats()).map((s) => [s.exporting, s.failed]),
                [[0, 2]],
                "the hung export counted as failed",
            );
        } finally {
            await h.close();
            await replica.close();
            await hung.close();
        }
    });
});

describe("closing exports everything queued", { timeout: 30_000 }, () => {
    test("several batches waiting at close all reach the collector", async () => {
        const receiver = await new OtlpReceiver().start();
        const replica = await ReplicaServer.start({ id: "fast" });
        const observer = new TelemetryObserver({
            destinations: [{ kind: "otlp", url: receiver.tracesUrl }],
            maxQueueSize: 20,
            maxExportBatchSize: 2,
            scheduledDelayMs: 60_000, // nothing leaves before close
        });
        observer.start(); // overlap the worker start-up with the set-up
        const h = await startHarness({
            router: { observers: [observer] },
            services: [
                {
                    settings: { name: "many", authEnabled: false, enableAppInsights: true },
                    replicas: [replica.replica],
                },
            ],
        });
        try {
            for (let i = 0; i < 9; i++) assert.equal((await score(h.url, "many")).status, 200);
            await observer.close();
            assert.equal(receiver.spans().length, 18);
            assert.deepEqual(
                (await observer.stats()).map((s) => [s.exported, s.failed, s.droppedQueueFull]),
                [[18, 0, 0]],
            );
        } finally {
            await h.close();
            await replica.close();
            await receiver.close();
        }
    });
});
