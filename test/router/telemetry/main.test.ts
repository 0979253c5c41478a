/**
 * The router process with telemetry from its environment (router/main.ts): the variables a pod
 * gets turn export on, spans reach the collector, counters appear on /metrics, and a wrong
 * connection string stops the start with a message that does not contain it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ValidationError } from "../../../components/common/validation";
import { silentLogger } from "../../../router/log";
import { optionsFromEnv, startRouter } from "../../../router/main";
import { ReplicaServer } from "../../support/replica-server";
import { call, eventually, score } from "../core-harness";
import { OtlpReceiver } from "./receivers";

const dir = mkdtempSync(join(tmpdir(), "router-telemetry-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("router main: telemetry from the environment", { timeout: 30_000 }, () => {
    test("OTEL_EXPORTER_OTLP_ENDPOINT: spans of enableAppInsights services, counters on /metrics", async () => {
        const receiver = await new OtlpReceiver().start();
        const replica = await ReplicaServer.start({ id: "r0" });
        const file = join(dir, "services.json");
        writeFileSync(
            file,
            JSON.stringify({
                services: [
                    {
                        settings: { name: "exported", authEnabled: false, enableAppInsights: true },
                        replicas: [{ id: "r0", url: replica.url }],
                    },
                    {
                        settings: { name: "private", authEnabled: false },
                        replicas: [{ id: "r0", url: replica.url }],
                    },
                ],
            }),
        );
        const options = optionsFromEnv({
            ROUTER_HOST: "127.0.0.1",
            ROUTER_HTTP_PORT: "0",
            ROUTER_SERVICES_FILE: file,
            ROUTER_LOG_LEVEL: "silent",
            ROUTER_ACCESS_LOG: "false",
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        });
        const running = await startRouter({ ...options, logger: silentLogger() });
        try {
            const url = running.httpUrl as string;
            assert.equal(
                (await score(url, "exported", { headers: { "x-ms-request-id": "m-1" } })).status,
                200,
            );
            assert.equal(
                (await score(url, "private", { headers: { "x-ms-request-id": "m-2" } })).status,
                200,
            );
            // Exported within the batch delay (2 s), while the router runs.
            await eventually(() => receiver.spans().length >= 2, 10_000, "2 spans");
            const metrics = await call(`${url}/metrics`, { method: "GET" });
            assert.match(
                metrics.body,
                /amlaks_router_telemetry_spans_total\{destination="otlp",outcome="exported"\} 2\b/,
            );
            await running.stop();
            const ids = receiver.spans().map((s) => s.attributes["amlaks.request_id"]);
            assert.deepEqual(
                ids,
                ["m-1", "m-1"],
                "server and client span of the exported service only",
            );
        } finally {
            await running.stop();
            await replica.close();
            await receiver.close();
        }
    });

    test("a wrong connection string stops the start, named but not shown", () => {
        const cs =
            "InstrumentationKey=abc;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/";
        assert.throws(
            () => optionsFromEnv({ APPLICATIONINSIGHTS_CONNECTION_STRING: cs }),
            (err: ValidationError) => {
                assert.deepEqual(
                    err.problems.map((p) => p.field),
                    ["APPLICATIONINSIGHTS_CONNECTION_STRING"],
                );
                assert.ok(!err.message.includes("abc;") && !err.message.includes("westeurope-5"));
                assert.match(
                    err.message,
                    /"\(redacted\)" must be an Application Insights connection string/,
                );
                return true;
            },
        );
    });

    test("no destination variable: no telemetry observer", () => {
        const o = optionsFromEnv({ ROUTER_TELEMETRY_PAYLOADS: "true" });
        assert.equal((o.observers ?? []).length, 0);
    });
});
