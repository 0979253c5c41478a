/**
 * The model data collector against in-memory sinks: what is collected, the layout and format,
 * batching by count/bytes/time, sampling, the byte budget, retries, a hanging store, close().
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import { ModelDataCollector, type ModelDataCollectorOptions } from "../../../router/collect";
import { detach } from "../../../router/collect/collector";
import { isSampled } from "../../../router/collect/sampler";
import {
    MemorySink,
    exchange,
    metricValue,
    permanent,
    serviceDefinition,
    transient,
    until,
} from "./helpers";

const SCOPE = { subscription: "sub-1", resourceGroup: "rg-1", workspace: "ws-1" };

function collector(
    sink: MemorySink,
    opts: Partial<ModelDataCollectorOptions> = {},
): { c: ModelDataCollector; registry: Registry } {
    const registry = new Registry();
    const c = new ModelDataCollector({
        sink,
        scope: SCOPE,
        registry,
        flushIntervalMs: 60_000,
        writerId: "w1",
        retry: { baseMs: 5, maxMs: 20 },
        ...opts,
    });
    return { c, registry };
}

describe("model data collector", () => {
    test("inputs and predictions land under v1's layout as JSON Lines, correlated by request id", async () => {
        const sink = new MemorySink();
        const { c, registry } = collector(sink);
        const d = serviceDefinition();
        const sent = [
            exchange(d, { data: [[1, 2]] }, [10.5]),
            exchange(d, { data: [[3, 4]] }, [20.5]),
        ];
        for (const r of sent) c.onExchange(r);
        assert.equal(sink.attempts.length, 0, "nothing is written before the batch is cut");
        await c.flush();

        const paths = [...sink.files.keys()].sort();
        assert.equal(paths.length, 2);
        const folder = "sub-1/rg-1/ws-1/diabetes/diabetes-model/3";
        assert.match(
            paths[0],
            new RegExp(`^${folder}/inputs/2025/01/02/data-\\d{6}-w1-000001\\.jsonl$`),
        );
        assert.equal(paths[1], paths[0].replace("/inputs/", "/predictions/"));

        const inputs = sink.lines("/inputs/");
        const predictions = sink.lines("/predictions/");
        assert.deepEqual(
            inputs,
            sent.map((r) => ({
                time: "2025-01-02T03:04:05.678Z",
                requestId: r.requestId,
                data: JSON.parse((r.requestBody as Buffer).toString()),
            })),
        );
        assert.deepEqual(
            predictions.map((l) => [l.requestId, l.data]),
            sent.map((r) => [r.requestId, JSON.parse((r.responseBody as Buffer).toString())]),
        );
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_collected_total", {
                service: "diabetes",
            }),
            2,
        );
        for (const designation of ["inputs", "predictions"]) {
            assert.equal(
                await metricValue(registry, "amlaks_router_model_data_written_total", {
                    service: "diabetes",
                    designation,
                }),
                2,
            );
        }
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_batches_total", {
                service: "diabetes",
                result: "written",
            }),
            1,
        );
        assert.equal(c.heldBytes, 0);
    });

    test("only successful POST /score calls of services with collectModelData on are kept", async () => {
        const sink = new MemorySink();
        const { c } = collector(sink);
        const on = serviceDefinition();
        const off = serviceDefinition({ collectModelData: false });
        const zero = serviceDefinition({ modelDataCollectionSampleRate: 0 });
        assert.equal(c.wantsPayloads(on), true);
        assert.equal(c.wantsPayloads(off), false);
        assert.equal(c.wantsPayloads(zero), false, "rate 0 needs no bodies");

        const kept = exchange(on);
        c.onExchange(kept);
        c.onExchange(exchange(off));
        c.onExchange(exchange(zero));
        c.onExchange(exchange(on, undefined, undefined, { status: 500 }));
        c.onExchange(exchange(on, undefined, undefined, { status: 304 }));
        c.onExchange(exchange(on, undefined, undefined, { method: "GET" }));
        c.onExchange(
            exchange(on, undefined, undefined, { path: "/api/v1/service/diabetes/swagger.json" }),
        );
        c.onExchange(exchange(on, undefined, undefined, { requestBody: undefined }));
        c.onExchange(exchange(on, undefined, undefined, { definition: undefined }));
        await c.flush();
        assert.deepEqual(
            sink.lines("/inputs/").map((l) => l.requestId),
            [kept.requestId],
        );
    });

    test("bodies that are not JSON are kept as text or base64", async () => {
        const sink = new MemorySink();
        const { c } = collector(sink);
        const d = serviceDefinition();
        const base = exchange(d);
        c.onExchange({
            ...base,
            requestBody: Buffer.from("age,bmi\n50,22.5\n"),
            responseBody: Buffer.from([0xff, 0x00, 0x10]),
        });
        c.onExchange({
            ...exchange(d),
            // Pretty-printed JSON still fits on one line.
            requestBody: Buffer.from('{\n  "data": [\n    [1, 2]\n  ]\n}'),
        });
        await c.flush();
        const [csv, pretty] = sink.lines("/inputs/");
        assert.deepEqual(
            { format: csv.format, data: csv.data },
            { format: "text", data: "age,bmi\n50,22.5\n" },
        );
        assert.deepEqual(pretty.data, { data: [[1, 2]] });
        assert.equal(pretty.format, undefined);
        const [binary] = sink.lines("/predictions/");
        assert.deepEqual(
            { format: binary.format, data: binary.data },
            { format: "base64", data: Buffer.from([0xff, 0x00, 0x10]).toString("base64") },
        );
    });

    test("batches are cut by record count, by bytes, and by time", async () => {
        const sink = new MemorySink();
        const { c, registry } = collector(sink, {
            maxBatchRecords: 3,
            maxBatchBytes: 1_000_000,
            flushIntervalMs: 150,
        });
        const d = serviceDefinition();
        for (let i = 0; i < 7; i++) c.onExchange(exchange(d));
        // Two full batches are written at once; the seventh record waits for the timer.
        await until(() => sink.files.size === 4, "two batches by count");
        const sizes = () =>
            [...sink.files]
                .filter(([p]) => p.includes("/inputs/"))
                .map(([, t]) => t.split("\n").filter(Boolean).length)
                .sort();
        assert.deepEqual(sizes(), [3, 3]);
        await until(() => sink.files.size === 6, "the last batch after flushIntervalMs", 2000);
        assert.deepEqual(sizes(), [1, 3, 3]);
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_batches_total", {
                service: "diabetes",
                result: "written",
            }),
            3,
        );

        const bySize = new MemorySink();
        const { c: c2 } = collector(bySize, { maxBatchBytes: 2000 });
        const big = { data: ["x".repeat(600)] };
        c2.onExchange(exchange(d, big));
        c2.onExchange(exchange(d, big));
        assert.equal(bySize.attempts.length, 0, "under maxBatchBytes: still queued");
        c2.onExchange(exchange(d, big));
        await until(() => bySize.files.size === 2, "a batch cut by bytes");
        assert.equal(bySize.lines("/inputs/").length, 3);
        await c.close();
        await c2.close();
    });

    test("sampling: rate 0.5 keeps exactly the request ids the sampler picks", async () => {
        const sink = new MemorySink();
        const { c, registry } = collector(sink);
        const d = serviceDefinition({ modelDataCollectionSampleRate: 0.5 });
        const ids = Array.from({ length: 400 }, (_, i) => `client-request-${i}`);
        for (const id of ids) c.onExchange(exchange(d, undefined, undefined, { requestId: id }));
        await c.flush();
        const expected = ids.filter((id) => isSampled(id, 0.5));
        assert.ok(
            expected.length > 160 && expected.length < 240,
            `about half of 400 ids are sampled (${expected.length})`,
        );
        assert.deepEqual(
            sink.lines("/inputs/").map((l) => l.requestId),
            expected,
        );
        assert.deepEqual(
            sink.lines("/predictions/").map((l) => l.requestId),
            expected,
        );
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_collected_total", {
                service: "diabetes",
            }),
            expected.length,
        );
    });

    test("several models: records are filed once, under the first model; none: _none/0", async () => {
        const sink = new MemorySink();
        const { c } = collector(sink);
        c.onExchange(
            exchange(
                serviceDefinition({ name: "ensemble" }, [
                    { name: "first", version: "2" },
                    { name: "second", version: "7" },
                ]),
            ),
        );
        c.onExchange(exchange(serviceDefinition({ name: "script-only" }, [])));
        await c.flush();
        const folders = [...sink.files.keys()]
            .map((p) => p.split("/").slice(3, 7).join("/"))
            .sort();
        assert.deepEqual(folders, [
            "ensemble/first/2/inputs",
            "ensemble/first/2/predictions",
            "script-only/_none/0/inputs",
            "script-only/_none/0/predictions",
        ]);
    });

    test("a batch that spans midnight (UTC) is written to both days' folders", async () => {
        const sink = new MemorySink();
        const { c } = collector(sink);
        const d = serviceDefinition();
        c.onExchange(
            exchange(d, undefined, undefined, {
                startTime: Date.UTC(2025, 11, 31, 23, 59, 59, 900),
            }),
        );
        c.onExchange(
            exchange(d, undefined, undefined, { startTime: Date.UTC(2026, 0, 1, 0, 0, 0, 100) }),
        );
        await c.flush();
        const days = [...sink.files.keys()]
            .filter((p) => p.includes("/inputs/"))
            .map((p) => p.split("/").slice(7, 10).join("/"))
            .sort();
        assert.deepEqual(days, ["2025/12/31", "2026/01/01"]);
    });

    test("memory is bounded: over maxQueuedBytes new records are dropped and counted", async () => {
        const sink = new MemorySink();
        sink.hang = true;
        const { c, registry } = collector(sink, {
            maxQueuedBytes: 20_000,
            maxBatchRecords: 5,
            writeTimeoutMs: 60_000,
            closeTimeoutMs: 50,
        });
        const d = serviceDefinition();
        const payload = { data: ["y".repeat(800)] };
        let maxHeld = 0;
        for (let i = 0; i < 200; i++) {
            c.onExchange(exchange(d, payload));
            maxHeld = Math.max(maxHeld, c.heldBytes);
        }
        assert.ok(maxHeld <= 20_000, `held ${maxHeld} bytes, budget 20000`);
        const collected = await metricValue(registry, "amlaks_router_model_data_collected_total", {
            service: "diabetes",
        });
        const dropped = await metricValue(registry, "amlaks_router_model_data_dropped_total", {
            service: "diabetes",
            reason: "queue_full",
        });
        assert.ok(collected > 0 && collected < 30, `collected ${collected}`);
        assert.equal(collected + dropped, 200);
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_queued_bytes"),
            c.heldBytes,
        );
        await c.close();
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_dropped_total", {
                service: "diabetes",
                reason: "shutdown",
            }),
            collected,
            "what the hung store never took is counted when the router stops",
        );
        assert.equal(c.heldBytes, 0);
    });

    test("queued bodies own their memory: a view into a pooled buffer is copied, a whole one kept", () => {
        const pooled = Buffer.from('{"data":[[1]]}'); // small: a slice of Node's 8 KiB pool
        assert.ok(pooled.buffer.byteLength > pooled.length);
        const copy = detach(pooled);
        assert.equal(copy.buffer.byteLength, copy.length);
        assert.deepEqual(copy, pooled);
        const whole = Buffer.allocUnsafeSlow(100).fill(1);
        assert.equal(detach(whole), whole, "no copy of a buffer that is its whole allocation");
    });

    test("a request larger than maxRecordBytes is dropped as too_large", async () => {
        const sink = new MemorySink();
        const { c, registry } = collector(sink, { maxRecordBytes: 1000 });
        const d = serviceDefinition();
        c.onExchange(exchange(d, { data: "z".repeat(2000) }));
        c.onExchange(exchange(d));
        await c.flush();
        assert.equal(sink.lines("/inputs/").length, 1);
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_dropped_total", {
                service: "diabetes",
                reason: "too_large",
            }),
            1,
        );
    });

    test("transient store errors are retried with backoff, then the batch is written", async () => {
        const sink = new MemorySink();
        sink.failures = [transient("503"), transient("ECONNRESET")];
        const { c, registry } = collector(sink, { maxConcurrentBatches: 1 });
        const d = serviceDefinition();
        c.onExchange(exchange(d));
        await c.flush();
        assert.equal(sink.files.size, 2);
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_retries_total", {
                service: "diabetes",
            }),
            2,
        );
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_batches_total", {
                service: "diabetes",
                result: "written",
            }),
            1,
        );
    });

    test("a permanent error is not retried; after maxRetries a transient one drops the batch", async () => {
        const sink = new MemorySink();
        // The inputs file is refused for good; the predictions file is written.
        sink.failures = [permanent("400")];
        const { c, registry } = collector(sink, { maxConcurrentBatches: 1 });
        const d = serviceDefinition();
        c.onExchange(exchange(d));
        c.onExchange(exchange(d));
        await c.flush();
        assert.equal(sink.attempts.length, 2, "one attempt per file: no retry of a 400");
        assert.equal(sink.lines("/predictions/").length, 2);
        const dropped = (reason: string) =>
            metricValue(registry, "amlaks_router_model_data_dropped_total", {
                service: "diabetes",
                reason,
            });
        assert.equal(await dropped("store_error"), 2, "requests whose data is incomplete");
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_batches_total", {
                service: "diabetes",
                result: "failed",
            }),
            1,
        );

        const flaky = new MemorySink();
        flaky.failures = Array.from({ length: 10 }, () => transient("500"));
        const { c: c2, registry: r2 } = collector(flaky, {
            retry: { maxRetries: 2, baseMs: 1, maxMs: 2 },
        });
        c2.onExchange(exchange(d));
        await c2.flush();
        assert.equal(flaky.attempts.length, 6, "3 attempts for each of the 2 files");
        assert.equal(
            await metricValue(r2, "amlaks_router_model_data_dropped_total", {
                service: "diabetes",
                reason: "store_error",
            }),
            1,
        );
        assert.equal(
            await metricValue(r2, "amlaks_router_model_data_retries_total", {
                service: "diabetes",
            }),
            4,
        );
        assert.equal(c2.heldBytes, 0);
    });

    test("a store that never answers: each write is abandoned after writeTimeoutMs and its signal aborted", async () => {
        const sink = new MemorySink();
        sink.hang = true;
        const { c, registry } = collector(sink, {
            writeTimeoutMs: 50,
            retry: { maxRetries: 1, baseMs: 1, maxMs: 1 },
        });
        c.onExchange(exchange(serviceDefinition()));
        await c.flush();
        assert.equal(sink.hungSignals.length, 4, "2 files × (1 attempt + 1 retry)");
        assert.ok(sink.hungSignals.every((s) => s.aborted));
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_dropped_total", {
                service: "diabetes",
                reason: "store_error",
            }),
            1,
        );
        assert.equal(c.heldBytes, 0);
    });

    test("close() writes what is queued; with a hung store it gives up after closeTimeoutMs", async () => {
        const sink = new MemorySink();
        const { c } = collector(sink);
        c.onExchange(exchange(serviceDefinition()));
        await c.close();
        assert.equal(sink.files.size, 2, "flushed on close");
        c.onExchange(exchange(serviceDefinition()));
        await c.flush();
        assert.equal(sink.files.size, 2, "nothing is collected after close");

        const hung = new MemorySink();
        hung.hang = true;
        const { c: c2, registry } = collector(hung, {
            closeTimeoutMs: 200,
            writeTimeoutMs: 60_000,
            maxConcurrentBatches: 1,
        });
        const d = serviceDefinition();
        c2.onExchange(exchange(d));
        c2.onExchange(exchange(serviceDefinition({ name: "other" })));
        const t0 = Date.now();
        await c2.close();
        const took = Date.now() - t0;
        assert.ok(took >= 190 && took < 5000, `close took ${took} ms`);
        for (const service of ["diabetes", "other"]) {
            assert.equal(
                await metricValue(registry, "amlaks_router_model_data_dropped_total", {
                    service,
                    reason: "shutdown",
                }),
                1,
                service,
            );
        }
        assert.equal(c2.heldBytes, 0);
        assert.ok(hung.hungSignals.every((s) => s.aborted));
    });
});
