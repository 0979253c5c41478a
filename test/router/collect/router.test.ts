/**
 * Model data collection through the real router on 127.0.0.1:
 * - the directory sink with a real model server (the Python harness running the bundled sample):
 *   inputs and predictions of real scoring calls land in v1's layout, correlated by request id,
 *   and the collection series appear in /metrics;
 * - a stalled store (a blob endpoint that accepts connections and never answers): scoring
 *   latency stays that of a service without collection, and the lost data is counted.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { after, before, describe, test } from "node:test";
import { validateWebserviceSettings } from "../../../components/settings";
import { BlobSink, DirectorySink, ModelDataCollector } from "../../../router/collect";
import { modelDataParts } from "../../../router/collect";
import { LocalBackend } from "../../../router/backends/local";
import { silentLogger } from "../../../router/log";
import { startRouter, type RunningRouter } from "../../../router/main";
import type { ServiceDefinition } from "../../../router/types";
import { ReplicaServer } from "../../support/replica-server";
import { call, score } from "../core-harness";
import { batchFilesBelow, filesBelow, readLines, until } from "./helpers";

const ROOT = join(__dirname, "..", "..", "..");
const SAMPLE = join(ROOT, "examples", "sample");
const HARNESS = join(ROOT, "runtime", "python", "amlserver.py");
const PYTHON = process.env.AMLAKS_PYTHON ?? "python3";
const SCOPE = { subscription: "sub-0001", resourceGroup: "rg-ml", workspace: "ws-ml" };

function metricLine(text: string, name: string, labels: string): number {
    const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
    return line === undefined ? 0 : Number(line.split(" ").pop());
}

describe("collection through the router with a real model server (directory sink)", () => {
    let dir: string;
    let running: RunningRouter;
    let collector: ModelDataCollector;

    before(async () => {
        dir = mkdtempSync(join(tmpdir(), "amlaks-md-router-"));
        const settings = validateWebserviceSettings({
            name: "diabetes",
            authEnabled: false,
            numReplicas: 1,
            collectModelData: true,
        });
        const definition: ServiceDefinition = {
            name: "diabetes",
            settings,
            auth: { mode: "none" },
            models: [{ name: "sklearn_regression_model", version: "1" }],
        };
        const backend = new LocalBackend({
            services: [
                {
                    definition,
                    command: [PYTHON, HARNESS],
                    env: {
                        AZUREML_SOURCE_DIRECTORY: SAMPLE,
                        AZUREML_ENTRY_SCRIPT: "score.py",
                        AZUREML_MODEL_DIR: join(SAMPLE, "model"),
                        PYTHONDONTWRITEBYTECODE: "1",
                    },
                    cwd: SAMPLE,
                    readinessTimeoutMs: 30_000,
                },
            ],
        });
        collector = new ModelDataCollector({
            sink: new DirectorySink(dir),
            scope: SCOPE,
            flushIntervalMs: 200,
            writerId: "test",
        });
        const parts = modelDataParts(collector);
        running = await startRouter({
            host: "127.0.0.1",
            httpPort: 0,
            backend,
            logger: silentLogger(),
            router: { defaultMetrics: false },
            ...parts,
        });
        await backend.firstReady("diabetes");
    });

    after(async () => {
        await running?.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    test("inputs and predictions land in v1's layout, one line each, correlated by request id", async () => {
        const sent = new Map<string, { input: unknown; answer: unknown }>();
        for (let i = 0; i < 6; i++) {
            const input = {
                data: [[0.01 * i, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0, 0.02, -0.02]],
            };
            const id = `collect-${i}`;
            const res = await score(running.httpUrl as string, "diabetes", {
                body: JSON.stringify(input),
                headers: { "x-ms-request-id": id },
            });
            assert.equal(res.status, 200, res.body);
            sent.set(id, { input, answer: JSON.parse(res.body) });
        }
        // A failed call is not collected.
        const bad = await score(running.httpUrl as string, "diabetes", {
            body: JSON.stringify({ data: "not rows" }),
            headers: { "x-ms-request-id": "collect-bad" },
        });
        assert.equal(bad.status, 500);

        const root = join(dir, "modeldata");
        const lineCount = (designation: string): number =>
            batchFilesBelow(root)
                .filter((f) => f.includes(`/${designation}/`))
                .reduce((n, f) => n + readLines(join(root, f)).length, 0);
        // Batches are cut every 200 ms: the six calls may span several files.
        await until(
            () => lineCount("inputs") === 6 && lineCount("predictions") === 6,
            "six lines of inputs and of predictions",
        );
        const today = new Date();
        const day = `${today.getUTCFullYear()}/${String(today.getUTCMonth() + 1).padStart(2, "0")}/${String(today.getUTCDate()).padStart(2, "0")}`;
        const folder = `sub-0001/rg-ml/ws-ml/diabetes/sklearn_regression_model/1`;
        const inputFiles = filesBelow(root).filter((f) => f.includes("/inputs/"));
        const inputs: Array<Record<string, unknown>> = [];
        const predictions: Array<Record<string, unknown>> = [];
        for (const f of inputFiles) {
            assert.match(
                f,
                new RegExp(`^${folder}/inputs/${day}/data-\\d{6}-test-\\d{6}\\.jsonl$`),
            );
            // Each batch's predictions file has the inputs file's name, and the same requests.
            const twin = f.replace("/inputs/", "/predictions/");
            const ins = readLines(join(root, f));
            const outs = readLines(join(root, twin));
            assert.deepEqual(
                outs.map((l) => l.requestId),
                ins.map((l) => l.requestId),
            );
            inputs.push(...ins);
            predictions.push(...outs);
        }
        const byId = (a: Record<string, unknown>, b: Record<string, unknown>) =>
            String(a.requestId).localeCompare(String(b.requestId));
        inputs.sort(byId);
        predictions.sort(byId);
        assert.deepEqual(
            inputs.map((l) => [l.requestId, l.data]),
            [...sent].map(([id, v]) => [id, v.input]),
        );
        assert.deepEqual(
            predictions.map((l) => [l.requestId, l.data]),
            [...sent].map(([id, v]) => [id, v.answer]),
        );
        for (const l of [...inputs, ...predictions]) {
            assert.ok(Math.abs(Date.parse(l.time as string) - Date.now()) < 60_000);
        }

        const metrics = await call(`${running.httpUrl}/metrics`, { method: "GET" });
        assert.equal(
            metricLine(
                metrics.body,
                "amlaks_router_model_data_collected_total",
                'service="diabetes"',
            ),
            6,
        );
        assert.equal(
            metricLine(
                metrics.body,
                "amlaks_router_model_data_written_total",
                'service="diabetes",designation="predictions"',
            ),
            6,
        );
    });
});

/** A TCP server that accepts connections and never answers (a store that stalls). */
async function silentServer(): Promise<{
    port: number;
    sockets: Set<net.Socket>;
    close(): Promise<void>;
}> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
        sockets.add(s);
        s.on("error", () => undefined);
        s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
        port: (server.address() as net.AddressInfo).port,
        sockets,
        close: () =>
            new Promise<void>((r) => {
                for (const s of sockets) s.destroy();
                server.close(() => r());
            }),
    };
}

/** Azurite's well-known development account key (public, in Microsoft's docs). */
const DEV_KEY =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

describe("a stalled store never slows scoring down", () => {
    let replica: ReplicaServer;
    let store: Awaited<ReturnType<typeof silentServer>>;
    let running: RunningRouter;
    let collector: ModelDataCollector;

    before(async () => {
        replica = await ReplicaServer.start({ id: "echo-0" });
        store = await silentServer();
        collector = new ModelDataCollector({
            sink: new BlobSink({
                connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:${store.port}/devstoreaccount1;`,
            }),
            scope: SCOPE,
            maxQueuedBytes: 64 * 1024,
            maxBatchRecords: 10,
            writeTimeoutMs: 120_000,
            closeTimeoutMs: 500,
        });
        const definitionOf = (name: string, collect: boolean): ServiceDefinition => ({
            name,
            settings: validateWebserviceSettings({
                name,
                authEnabled: false,
                numReplicas: 1,
                collectModelData: collect,
            }),
            auth: { mode: "none" },
        });
        running = await startRouter({
            host: "127.0.0.1",
            httpPort: 0,
            logger: silentLogger(),
            router: { defaultMetrics: false },
            services: [
                { definition: definitionOf("collected", true), replicas: [replica.replica] },
                { definition: definitionOf("plain", false), replicas: [replica.replica] },
            ],
            ...modelDataParts(collector),
        });
    });

    after(async () => {
        await running?.stop();
        await store?.close();
        await replica?.close();
    });

    test("requests finish at the speed of a service without collection; drops are counted", async (t) => {
        const base = running.httpUrl as string;
        const body = JSON.stringify({ data: ["p".repeat(2000)] });
        const times: Record<string, number[]> = { collected: [], plain: [] };
        // Warm both paths, then alternate so drift on a shared machine hits both alike.
        for (const s of ["collected", "plain"]) await score(base, s, { body });
        for (let i = 0; i < 150; i++) {
            for (const s of ["collected", "plain"]) {
                const t0 = performance.now();
                const res = await score(base, s, { body });
                times[s].push(performance.now() - t0);
                assert.equal(res.status, 200);
            }
        }
        // The store took connections and never answered: uploads are still pending (their
        // timeout is 120 s), yet every scoring call above completed.
        await until(() => store.sockets.size > 0, "the collector to reach the store");
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
        const on = median(times.collected);
        const off = median(times.plain);
        t.diagnostic(`median latency: collected ${on.toFixed(2)} ms, plain ${off.toFixed(2)} ms`);
        assert.ok(
            on <= off * 1.5 + 5,
            `median with collection to a stalled store ${on.toFixed(2)} ms, without ${off.toFixed(2)} ms`,
        );

        const text = (await call(`${base}/metrics`, { method: "GET" })).body;
        const collected = metricLine(
            text,
            "amlaks_router_model_data_collected_total",
            'service="collected"',
        );
        const dropped = metricLine(
            text,
            "amlaks_router_model_data_dropped_total",
            'service="collected",reason="queue_full"',
        );
        assert.ok(dropped > 0, "the 64 KiB budget filled up and records were dropped");
        assert.equal(
            collected + dropped,
            151,
            "every sampled request is either queued or counted as dropped",
        );
        const held = Number(/amlaks_router_model_data_queued_bytes (\d+)/.exec(text)?.[1]);
        assert.ok(held > 0 && held <= 64 * 1024, `held ${held} bytes`);
        assert.equal(
            metricLine(text, "amlaks_router_model_data_collected_total", 'service="plain"'),
            0,
        );

        // Stopping gives up on the stalled writes after closeTimeoutMs and counts them.
        const t0 = Date.now();
        await running.stop();
        assert.ok(Date.now() - t0 < 10_000, `stop took ${Date.now() - t0} ms`);
        const shutdown = await collector.metrics.dropped.get();
        const byReason = (reason: string) =>
            shutdown.values
                .filter((v) => v.labels.reason === reason && v.labels.service === "collected")
                .reduce((n, v) => n + v.value, 0);
        assert.equal(byReason("queue_full") + byReason("shutdown"), 151);
    });
});
