/**
 * The blob sink against Azurite (the Blob REST API on 127.0.0.1): the container is created when
 * missing, batches become block blobs under v1's layout, the router started from its environment
 * (ROUTER_MODEL_DATA_*) collects real scoring calls into it, and a store that went away leads to
 * bounded retries and counted drops.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Registry } from "prom-client";
import { BlobSink, ModelDataCollector } from "../../../router/collect";
import { optionsFromEnv, startRouter } from "../../../router/main";
import { ReplicaServer } from "../../support/replica-server";
import { call, score } from "../core-harness";
import { startAzurite, type Azurite } from "./azurite";
import { exchange, metricValue, serviceDefinition, until } from "./helpers";

const SCOPE = { subscription: "sub-az", resourceGroup: "rg-az", workspace: "ws-az" };

async function blobNames(azurite: Azurite, container = "modeldata"): Promise<string[]> {
    const c = azurite.service.getContainerClient(container);
    if (!(await c.exists())) return [];
    const names: string[] = [];
    for await (const b of c.listBlobsFlat()) names.push(b.name);
    return names.sort();
}

async function blobLines(azurite: Azurite, name: string): Promise<Array<Record<string, unknown>>> {
    const buf = await azurite.service
        .getContainerClient("modeldata")
        .getBlockBlobClient(name)
        .downloadToBuffer();
    return buf
        .toString("utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("blob sink (Azurite)", () => {
    let azurite: Azurite;
    before(async () => {
        azurite = await startAzurite();
    });
    after(async () => {
        await azurite?.stop();
    });

    test("creates the modeldata container and writes each batch as two block blobs", async () => {
        const registry = new Registry();
        const collector = new ModelDataCollector({
            sink: new BlobSink({ connectionString: azurite.connectionString }),
            scope: SCOPE,
            registry,
            writerId: "az",
        });
        const d = serviceDefinition({}, [{ name: "ridge", version: "4" }]);
        const records = [exchange(d, { data: [[1]] }, [1.5]), exchange(d, { data: [[2]] }, [2.5])];
        for (const r of records) collector.onExchange(r);
        await collector.close();

        const names = await blobNames(azurite);
        assert.equal(names.length, 2, names.join(", "));
        const prefix = "sub-az/rg-az/ws-az/diabetes/ridge/4";
        assert.match(
            names[0],
            new RegExp(`^${prefix}/inputs/2025/01/02/data-\\d{6}-az-000001\\.jsonl$`),
        );
        assert.equal(names[1], names[0].replace("/inputs/", "/predictions/"));
        assert.deepEqual(
            (await blobLines(azurite, names[0])).map((l) => [l.requestId, l.data]),
            records.map((r) => [r.requestId, JSON.parse((r.requestBody as Buffer).toString())]),
        );
        assert.deepEqual(
            (await blobLines(azurite, names[1])).map((l) => [l.requestId, l.data]),
            records.map((r) => [r.requestId, JSON.parse((r.responseBody as Buffer).toString())]),
        );
        const props = await azurite.service
            .getContainerClient("modeldata")
            .getBlockBlobClient(names[0])
            .getProperties();
        assert.equal(props.contentType, "application/x-ndjson; charset=utf-8");
        assert.equal(
            await metricValue(registry, "amlaks_router_model_data_batches_total", {
                service: "diabetes",
                result: "written",
            }),
            1,
        );
    });

    test("the router configured by ROUTER_MODEL_DATA_* collects real scoring calls into the container", async () => {
        const replica = await ReplicaServer.start({ id: "az-0" });
        const dir = mkdtempSync(join(tmpdir(), "amlaks-md-env-"));
        const servicesFile = join(dir, "services.yaml");
        writeFileSync(
            servicesFile,
            JSON.stringify({
                services: [
                    {
                        settings: {
                            name: "from-env",
                            authEnabled: false,
                            numReplicas: 1,
                            collectModelData: true,
                        },
                        replicas: [replica.replica],
                    },
                ],
            }),
        );
        const level = process.env.ROUTER_LOG_LEVEL;
        process.env.ROUTER_LOG_LEVEL = "silent";
        const running = await startRouter(
            optionsFromEnv({
                ROUTER_HOST: "127.0.0.1",
                ROUTER_HTTP_PORT: "0",
                ROUTER_SERVICES_FILE: servicesFile,
                ROUTER_MODEL_DATA_CONNECTION_STRING: azurite.connectionString,
                ROUTER_MODEL_DATA_CONTAINER: "router-data",
                ROUTER_MODEL_DATA_SUBSCRIPTION: "sub-env",
                ROUTER_MODEL_DATA_RESOURCE_GROUP: "rg-env",
                ROUTER_MODEL_DATA_WORKSPACE: "ws-env",
                ROUTER_MODEL_DATA_FLUSH_MS: "100",
            }),
        );
        try {
            const ids = ["env-a", "env-b", "env-c"];
            for (const id of ids) {
                const res = await score(running.httpUrl as string, "from-env", {
                    body: JSON.stringify({ data: [[id]] }),
                    headers: { "x-ms-request-id": id },
                });
                assert.equal(res.status, 200);
            }
            const names = await until(async () => {
                const n = await blobNames(azurite, "router-data");
                return n.length >= 2 && n;
            }, "blobs in router-data");
            assert.ok(
                names.every((n) => n.startsWith("sub-env/rg-env/ws-env/from-env/_none/0/")),
                names.join(", "),
            );
            const lines: string[] = [];
            for (const n of names.filter((x) => x.includes("/inputs/"))) {
                const buf = await azurite.service
                    .getContainerClient("router-data")
                    .getBlockBlobClient(n)
                    .downloadToBuffer();
                for (const l of buf.toString("utf8").split("\n").filter(Boolean)) {
                    const rec = JSON.parse(l) as { requestId: string; data: unknown };
                    assert.deepEqual(rec.data, { data: [[rec.requestId]] });
                    lines.push(rec.requestId);
                }
            }
            await until(
                async () =>
                    /amlaks_router_model_data_written_total\{service="from-env",designation="predictions"\} 3/.test(
                        (await call(`${running.httpUrl}/metrics`, { method: "GET" })).body,
                    ),
                "written_total in /metrics",
            );
            assert.deepEqual(lines.sort(), ids);
        } finally {
            await running.stop();
            if (level === undefined) delete process.env.ROUTER_LOG_LEVEL;
            else process.env.ROUTER_LOG_LEVEL = level;
            await replica.close();
            rmSync(dir, { recursive: true, force: true });
        }
    });

    test("a store that went away: bounded retries, then the batch is dropped and counted", async () => {
        const gone = await startAzurite();
        await gone.stop();
        const registry = new Registry();
        const collector = new ModelDataCollector({
            sink: new BlobSink({ connectionString: gone.connectionString }),
            scope: SCOPE,
            registry,
            retry: { maxRetries: 2, baseMs: 10, maxMs: 20 },
        });
        const d = serviceDefinition();
        collector.onExchange(exchange(d));
        collector.onExchange(exchange(d));
        await collector.flush();
        const value = (name: string, labels: Record<string, string>) =>
            metricValue(registry, name, { service: "diabetes", ...labels });
        assert.equal(
            await value("amlaks_router_model_data_dropped_total", { reason: "store_error" }),
            2,
        );
        assert.equal(
            await value("amlaks_router_model_data_retries_total", {}),
            4,
            "2 files × 2 retries",
        );
        assert.equal(
            await value("amlaks_router_model_data_batches_total", { result: "failed" }),
            1,
        );
        assert.equal(collector.heldBytes, 0);
    });
});
