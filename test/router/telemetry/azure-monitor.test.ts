/**
 * Application Insights export through Azure Monitor's exporter: the connection string's
 * IngestionEndpoint points at a local HTTPS ingestion endpoint, which receives the envelopes
 * (`POST /v2.1/track`). Requests, dependencies and exceptions are checked as Application Insights
 * stores them (`requests`, `dependencies`, `exceptions`), and nothing else leaves the machine: the
 * exporter's Statsbeat is off.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TelemetryObserver } from "../../../router/telemetry";
import { ExportPipeline } from "../../../router/telemetry/pipeline";
import { ReplicaServer } from "../../support/replica-server";
import { eventually, score, startHarness, type Harness } from "../core-harness";
import { BreezeReceiver, recordConnections, selfSignedCert, type Envelope } from "./receivers";

const IKEY = "0f6a3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b";
const KEY = "azure-primary-key-0123456789abcdefgh";
// Payload markers that cannot occur by chance in exported durations, ids or timestamps.
const RESULT_MARKER = 0.7182818284590452;
const ERROR_MARKER = "model-error-body-7f3e9c";

const REQUEST = "Microsoft.ApplicationInsights.Request";
const DEPENDENCY = "Microsoft.ApplicationInsights.RemoteDependency";
const EXCEPTION = "Microsoft.ApplicationInsights.Exception";

describe("Azure Monitor export to a local ingestion endpoint", { timeout: 60_000 }, () => {
    let breeze: BreezeReceiver;
    let replica: ReplicaServer;
    let observer: TelemetryObserver;
    let h: Harness;
    let envelopes: Envelope[];

    before(async () => {
        // The exporter rewrites http:// ingestion endpoints to https://: a local HTTPS endpoint
        // with a certificate the exporter is told to trust.
        const tls = selfSignedCert();
        breeze = await new BreezeReceiver({ tls }).start();
        replica = await ReplicaServer.start({ id: "replica-a" });
        observer = new TelemetryObserver({
            destinations: [
                { kind: "azure-monitor", connectionString: breeze.connectionString(IKEY) },
            ],
            scheduledDelayMs: 50,
            routerId: "router-pod-1",
            azureMonitorOptions: { tlsOptions: { ca: tls.cert } },
        });
        observer.start(); // overlap the worker start-up with the set-up
        h = await startHarness({
            router: { observers: [observer] },
            services: [
                {
                    settings: {
                        name: "insights",
                        enableAppInsights: true,
                        primaryKey: KEY,
                        secondaryKey: `${KEY}-2`,
                    },
                    replicas: [replica.replica],
                },
            ],
        });
        replica.behaviour = { status: 200, body: { result: [RESULT_MARKER] } };
        const ok = await score(h.url, "insights", {
            headers: { authorization: `Bearer ${KEY}`, "x-ms-request-id": "ai-ok" },
        });
        assert.equal(ok.status, 200);
        replica.behaviour = { status: 500, body: { message: ERROR_MARKER }, runFailed: true };
        const failed = await score(h.url, "insights", {
            headers: { authorization: `Bearer ${KEY}`, "x-ms-request-id": "ai-fail" },
        });
        assert.equal(failed.status, 500);
        await eventually(
            () =>
                breeze.envelopes().filter((e) => e.name !== "Microsoft.ApplicationInsights.Metric")
                    .length >= 5,
            10_000,
            "5 envelopes",
        );
        await h.close();
        envelopes = breeze.envelopes();
    });

    after(async () => {
        await h?.close();
        await replica?.close();
        await breeze?.close();
    });

    const props = (e: Envelope): Record<string, string> => e.data.baseData.properties ?? {};
    const find = (name: string, id: string): Envelope[] =>
        envelopes.filter((e) => e.name === name && props(e)["amlaks.request_id"] === id);

    test("envelopes go to <IngestionEndpoint>/v2.1/track with the connection string's key", async () => {
        assert.ok(breeze.requests.length > 0);
        for (const r of breeze.requests) {
            assert.equal(r.method, "POST");
            assert.equal(r.path.replace(/\/+/g, "/"), "/v2.1/track");
        }
        for (const e of envelopes) assert.equal(e.iKey ?? e.instrumentationKey, IKEY);
        assert.deepEqual(
            (await observer.stats()).map((s) => [s.destination, s.exported, s.failed]),
            [["azure-monitor", 4, 0]],
        );
    });

    test("requests: name, id, duration, success, response code; role = service, instance = router", () => {
        const [ok] = find(REQUEST, "ai-ok");
        assert.ok(ok, "request item of ai-ok");
        const d = ok.data.baseData;
        assert.equal(ok.data.baseType, "RequestData");
        assert.equal(d.name, "POST /api/v1/service/insights/score");
        assert.equal(d.responseCode, "200");
        assert.equal(d.success, true);
        // hh:mm:ss.fffffff, this request took well under a second. The exporter trims up to four
        // trailing zeros of the fraction (68.968 ms is "00:00:00.068968"), so 3 to 7 digits.
        assert.match(String(d.duration), /^00:00:00\.\d{3,7}$/);
        assert.match(String(d.id), /^[0-9a-f]{16}$/);
        assert.equal(ok.tags["ai.cloud.role"], "insights");
        assert.equal(ok.tags["ai.cloud.roleInstance"], "router-pod-1");
        assert.equal(ok.tags["ai.location.ip"], "127.0.0.1", "client_IP");
        assert.equal(props(ok)["amlaks.replica"], "replica-a");
        assert.equal(props(ok)["amlaks.service"], "insights");

        const [bad] = find(REQUEST, "ai-fail");
        assert.equal(bad.data.baseData.responseCode, "500");
        assert.equal(bad.data.baseData.success, false);
    });

    test("dependencies: router → replica, same operation, parent = the request", () => {
        const [req] = find(REQUEST, "ai-ok");
        const [dep] = find(DEPENDENCY, "ai-ok");
        assert.ok(dep, "dependency item of ai-ok");
        assert.equal(dep.data.baseType, "RemoteDependencyData");
        assert.equal(dep.data.baseData.type, "Http");
        assert.equal(dep.data.baseData.name, "POST /score");
        assert.equal(dep.data.baseData.target, "insights");
        assert.equal(dep.data.baseData.resultCode, "200");
        assert.equal(dep.data.baseData.success, true);
        assert.equal(dep.tags["ai.operation.id"], req.tags["ai.operation.id"]);
        assert.equal(dep.tags["ai.operation.parentId"], req.data.baseData.id);

        const [failed] = find(DEPENDENCY, "ai-fail");
        assert.equal(failed.data.baseData.resultCode, "500");
        assert.equal(failed.data.baseData.success, false);
    });

    test("exceptions: the replica's 500, attached to its request", () => {
        const ex = envelopes.filter((e) => e.name === EXCEPTION);
        assert.equal(ex.length, 1);
        const [req] = find(REQUEST, "ai-fail");
        assert.equal(ex[0].tags["ai.operation.id"], req.tags["ai.operation.id"]);
        const details = (
            ex[0].data.baseData.exceptions as { typeName: string; message: string }[]
        )[0];
        assert.equal(details.typeName, "replica_error");
        assert.match(details.message, /replica replica-a answered 500/);
    });

    test("no key, token or payload in what was sent", () => {
        const all = breeze.allText;
        for (const s of [KEY, "Bearer", ERROR_MARKER, String(RESULT_MARKER)])
            assert.ok(!all.includes(s), `${s} not exported`);
    });
});

describe("the Azure Monitor exporter as the export worker builds it", { timeout: 30_000 }, () => {
    test("nothing leaves the machine: no Statsbeat, no instance metadata, only the endpoint", async () => {
        // The pipeline of the worker, run on this thread so its connections can be recorded.
        const connections = recordConnections();
        const tls = selfSignedCert();
        const breeze = await new BreezeReceiver({ tls }).start();
        try {
            const pipeline = new ExportPipeline({
                destinations: [
                    { kind: "azure-monitor", connectionString: breeze.connectionString(IKEY) },
                ],
                maxQueueSize: 16,
                maxExportBatchSize: 16,
                scheduledDelayMs: 60_000,
                exportTimeoutMs: 5000,
                routerId: "router-pod-1",
                azureMonitorOptions: { tlsOptions: { ca: tls.cert } },
            });
            pipeline.add({
                requestId: "direct-1",
                service: "insights",
                method: "POST",
                path: "/api/v1/service/insights/score",
                status: 200,
                replica: "replica-a",
                startTime: Date.now(),
                durationMs: 3,
                modelMs: 2,
                requestBytes: 10,
                responseBytes: 5,
            });
            await pipeline.close();
            assert.deepEqual(
                pipeline.stats().map((s) => [s.exported, s.failed]),
                [[2, 0]],
            );
            assert.ok(
                breeze
                    .envelopes()
                    .some((e) => e.data.baseData.properties?.["amlaks.request_id"] === "direct-1"),
            );
            // Let a Statsbeat start-up probe (instance metadata) show itself if it were on.
            await new Promise((r) => setTimeout(r, 500));
            assert.ok(connections.hosts.length > 0, "connections are recorded");
            assert.deepEqual([...new Set(connections.hosts)], ["127.0.0.1"]);
        } finally {
            connections.stop();
            await breeze.close();
        }
    });
});
