/**
 * Application Insights export, OTLP destination: a known sequence of requests through the real
 * router and a real model server (the Python harness running fixtures/model.py), received by a
 * local OTLP/HTTP collector and checked field by field — requests, dependencies, exceptions,
 * payload parts — and for the absence of keys and (by default) payloads.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { TelemetryObserver } from "../../../router/telemetry";
import { PAYLOAD_CAP_BYTES, PAYLOAD_PART_BYTES } from "../../../router/telemetry/payload";
import { startHarness as startModel, type Proc } from "../../runtime/helpers";
import { eventually, score, startHarness, type Harness } from "../core-harness";
import { OtlpReceiver, type OtlpSpan } from "./receivers";

const MODEL = join(__dirname, "fixtures", "model.py");
const FIXTURES = join(__dirname, "fixtures");
const KEY = "telemetry-primary-key-0123456789abcdef";
const KEY2 = "telemetry-secondary-key-0123456789abcdef";
const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
}

function byRequestId(spans: OtlpSpan[], kind: number, id: string): OtlpSpan[] {
    return spans.filter((s) => s.kind === kind && s.attributes["amlaks.request_id"] === id);
}

function one(spans: OtlpSpan[], kind: number, id: string): OtlpSpan {
    const found = byRequestId(spans, kind, id);
    assert.equal(found.length, 1, `one ${kind === SERVER ? "server" : "client"} span for ${id}`);
    return found[0];
}

describe(
    "OTLP export: requests through the router and a real model server",
    { timeout: 60_000 },
    () => {
        let model: { proc: Proc; url: string };
        let receiver: OtlpReceiver;
        let observer: TelemetryObserver;
        let h: Harness;
        let spans: OtlpSpan[];
        const replies: Record<string, { status: number; body: string; ms: number }> = {};

        before(async () => {
            receiver = await new OtlpReceiver().start();
            model = await startModel(MODEL, { sourceDir: FIXTURES });
            observer = new TelemetryObserver({
                destinations: [{ kind: "otlp", url: receiver.tracesUrl }],
                scheduledDelayMs: 50,
                routerId: "router-test-0",
                version: "9.9.9",
            });
            observer.start(); // overlap the worker start-up with the set-up
            const down = `http://127.0.0.1:${await closedPort()}`;
            h = await startHarness({
                router: { observers: [observer] },
                services: [
                    {
                        settings: {
                            name: "scored",
                            enableAppInsights: true,
                            primaryKey: KEY,
                            secondaryKey: KEY2,
                        },
                        replicas: [{ id: "model-0", url: model.url }],
                    },
                    {
                        settings: { name: "quiet", authEnabled: false },
                        replicas: [{ id: "model-0", url: model.url }],
                    },
                    {
                        settings: { name: "gone", authEnabled: false, enableAppInsights: true },
                        replicas: [{ id: "gone-0", url: down }],
                    },
                ],
            });
            const send = async (
                id: string,
                service: string,
                body: unknown,
                auth: string | undefined,
            ): Promise<void> => {
                const t0 = Date.now();
                const r = await score(h.url, service, {
                    body: JSON.stringify(body),
                    headers: {
                        "x-ms-request-id": id,
                        ...(auth ? { authorization: `Bearer ${auth}` } : {}),
                    },
                });
                replies[id] = { status: r.status, body: r.body, ms: Date.now() - t0 };
            };
            // The known sequence, one at a time.
            await send(
                "req-ok",
                "scored",
                {
                    data: [
                        [1.25, 2],
                        [3, 12345.5],
                    ],
                },
                KEY,
            );
            await send("req-fail", "scored", { data: [[0]] }, KEY2);
            await send("req-401", "scored", { data: [[1]] }, "not-the-key-0123456789");
            await send("req-quiet", "quiet", { data: [[5]] }, undefined);
            await send("req-gone", "gone", { data: [[6]] }, undefined);
            // Exported while the router runs (batches every 50 ms), not only on close.
            await eventually(
                () => receiver.spans().length >= 7,
                10_000,
                "7 spans at the collector",
            );
            await h.close();
            spans = receiver.spans();
        });

        after(async () => {
            await h?.close();
            await model?.proc.stop();
            await receiver?.close();
        });

        test("the router answered the sequence as expected", () => {
            assert.deepEqual(
                Object.fromEntries(Object.entries(replies).map(([k, v]) => [k, v.status])),
                {
                    "req-ok": 200,
                    "req-fail": 500,
                    "req-401": 401,
                    "req-quiet": 200,
                    "req-gone": 502,
                },
            );
        });

        test("JSON over OTLP/HTTP to /v1/traces; exactly the spans of services with enableAppInsights", async () => {
            for (const r of receiver.requests) {
                assert.equal(r.method, "POST");
                assert.equal(r.path, "/v1/traces");
                assert.match(String(r.headers["content-type"]), /^application\/json/);
            }
            // ok: server + client; fail: server + client; 401: server; gone: server + client.
            assert.equal(spans.length, 7);
            assert.equal(byRequestId(spans, SERVER, "req-quiet").length, 0);
            assert.equal(byRequestId(spans, CLIENT, "req-quiet").length, 0);
            assert.deepEqual(await observer.stats(), [
                {
                    destination: "otlp",
                    queued: 0,
                    exporting: 0,
                    exported: 7,
                    failed: 0,
                    droppedQueueFull: 0,
                },
            ]);
        });

        test("request span (App Insights requests): id, path, method, status, duration, service, replica", () => {
            const s = one(spans, SERVER, "req-ok");
            const body = JSON.stringify({
                data: [
                    [1.25, 2],
                    [3, 12345.5],
                ],
            });
            assert.equal(s.name, "POST /api/v1/service/scored/score");
            assert.equal(s.parentSpanId, "");
            assert.equal(s.statusCode, 0);
            assert.deepEqual(s.resource["service.name"], "scored");
            assert.deepEqual(s.resource["service.instance.id"], "router-test-0");
            assert.deepEqual(s.resource["service.version"], "9.9.9");
            const a = s.attributes;
            assert.equal(a["http.request.method"], "POST");
            assert.equal(a["url.path"], "/api/v1/service/scored/score");
            assert.equal(a["http.response.status_code"], 200);
            assert.equal(a["amlaks.service"], "scored");
            assert.equal(a["amlaks.replica"], "model-0");
            assert.equal(a["amlaks.attempts"], 1);
            assert.equal(a["http.request.body.size"], Buffer.byteLength(body));
            assert.equal(a["http.response.body.size"], Buffer.byteLength(replies["req-ok"].body));
            assert.equal(a["client.address"], "127.0.0.1");
            assert.equal(typeof a["amlaks.queue_ms"], "number");
            assert.ok((a["amlaks.model_ms"] as number) > 0);
            assert.equal(a["amlaks.outcome"], undefined);
            assert.equal(a["error.type"], undefined);
            assert.deepEqual(s.events, []);
            const duration = s.end - s.start;
            assert.ok(
                duration > 0 && duration <= replies["req-ok"].ms + 1,
                `duration ${duration} ms`,
            );
            assert.ok(Math.abs(s.start - Date.now()) < 60_000, "wall-clock start time");
        });

        test("dependency span (router → replica) is the request's child and spans the model time", () => {
            const server = one(spans, SERVER, "req-ok");
            const c = one(spans, CLIENT, "req-ok");
            assert.equal(c.name, "POST /score");
            assert.equal(c.traceId, server.traceId);
            assert.equal(c.parentSpanId, server.spanId);
            assert.equal(c.statusCode, 0);
            assert.equal(c.attributes["http.response.status_code"], 200);
            assert.equal(c.attributes["peer.service"], "scored");
            assert.equal(c.attributes["amlaks.replica"], "model-0");
            assert.ok(c.start >= server.start && c.end <= server.end + 0.001);
            const modelMs = server.attributes["amlaks.model_ms"] as number;
            assert.ok(
                Math.abs(c.end - c.start - modelMs) < 0.01,
                "dependency duration = model time",
            );
        });

        test("a replica's 500 is a failed request and dependency, and an exception", () => {
            const s = one(spans, SERVER, "req-fail");
            assert.equal(s.statusCode, ERROR);
            assert.equal(s.attributes["http.response.status_code"], 500);
            assert.equal(s.attributes["error.type"], "500");
            assert.equal(s.events.length, 1);
            const e = s.events[0];
            assert.equal(e.name, "exception");
            assert.equal(e.attributes["exception.type"], "replica_error");
            assert.match(String(e.attributes["exception.message"]), /replica model-0 answered 500/);
            const c = one(spans, CLIENT, "req-fail");
            assert.equal(c.statusCode, ERROR);
            assert.equal(c.attributes["http.response.status_code"], 500);
        });

        test("a request refused at auth has a request span only, no exception", () => {
            const s = one(spans, SERVER, "req-401");
            assert.equal(s.attributes["http.response.status_code"], 401);
            assert.equal(s.attributes["amlaks.outcome"], "unauthorized");
            assert.equal(s.attributes["amlaks.replica"], undefined);
            assert.equal(
                s.statusCode,
                0,
                "4xx is not a server error (App Insights: success false from the code)",
            );
            assert.deepEqual(s.events, []);
            assert.equal(byRequestId(spans, CLIENT, "req-401").length, 0);
        });

        test("a 502 the router produced (replica unreachable) is an exception and a failed dependency", () => {
            const s = one(spans, SERVER, "req-gone");
            assert.equal(s.statusCode, ERROR);
            assert.equal(s.attributes["amlaks.outcome"], "replica_unreachable");
            assert.equal(s.attributes["error.type"], "replica_unreachable");
            const ex = s.events.find((e) => e.name === "exception");
            assert.equal(ex?.attributes["exception.type"], "replica_unreachable");
            assert.match(String(ex?.attributes["exception.message"]), /connection/i);
            const c = one(spans, CLIENT, "req-gone");
            assert.equal(c.statusCode, ERROR);
            assert.equal(c.attributes["error.type"], "replica_unreachable");
            assert.equal(c.attributes["http.response.status_code"], undefined);
        });

        test("nothing exported carries a key, a token or (payload logging off) a payload", () => {
            const all = receiver.allText;
            for (const secret of [KEY, KEY2, "not-the-key-0123456789", "Bearer"]) {
                assert.ok(!all.includes(secret), `${secret} must not be exported`);
            }
            // Request values and the model's answer are payloads: off by default.
            assert.ok(!all.includes("12345.5"), "request payload not exported");
            assert.ok(
                !all.includes("12347.5") && !all.includes("sums"),
                "response payload not exported",
            );
            assert.ok(!all.includes("request payload") && !all.includes("response payload"));
        });
    },
);

describe("OTLP export with payload logging on", { timeout: 60_000 }, () => {
    let model: { proc: Proc; url: string };
    let receiver: OtlpReceiver;
    let h: Harness;

    before(async () => {
        receiver = await new OtlpReceiver().start();
        model = await startModel(MODEL, { sourceDir: FIXTURES });
        h = await startHarness({
            router: {
                observers: [
                    new TelemetryObserver({
                        destinations: [{ kind: "otlp", url: receiver.tracesUrl }],
                        logPayloads: true,
                        scheduledDelayMs: 50,
                    }),
                ],
            },
            services: [
                {
                    settings: { name: "echo", authEnabled: false, enableAppInsights: true },
                    replicas: [{ id: "model-0", url: model.url }],
                },
            ],
        });
    });

    after(async () => {
        await h?.close();
        await model?.proc.stop();
        await receiver?.close();
    });

    function payload(
        spans: OtlpSpan[],
        id: string,
        event: string,
    ): { text: string; events: OtlpSpan["events"] } {
        const s = one(spans, SERVER, id);
        const events = s.events.filter((e) => e.name === event);
        events.forEach((e, i) => {
            assert.equal(e.attributes["amlaks.payload.part"], i + 1, "parts in order");
            assert.equal(e.attributes["amlaks.payload.parts"], events.length);
            assert.ok(
                Buffer.byteLength(String(e.attributes["amlaks.payload"])) <= PAYLOAD_PART_BYTES,
            );
        });
        return { text: events.map((e) => String(e.attributes["amlaks.payload"])).join(""), events };
    }

    test("request and response bodies arrive whole up to 64 KiB, in 8 KiB parts, then capped", async () => {
        const small = JSON.stringify({ echo: "héllo wörld" });
        const mid = JSON.stringify({ echo: "é".repeat(10_000) }); // ~20 KB of 2-byte characters
        const big = JSON.stringify({ echo: "x".repeat(100_000) });
        const answers: Record<string, string> = {};
        for (const [id, body] of [
            ["p-small", small],
            ["p-mid", mid],
            ["p-big", big],
        ]) {
            const r = await score(h.url, "echo", { body, headers: { "x-ms-request-id": id } });
            assert.equal(r.status, 200);
            answers[id] = r.body;
        }
        await eventually(() => receiver.spans().length >= 6, 10_000, "6 spans");
        const spans = receiver.spans();

        const s = payload(spans, "p-small", "request payload");
        assert.equal(s.text, small);
        assert.equal(s.events[0].attributes["amlaks.payload.bytes"], Buffer.byteLength(small));
        assert.equal(s.events[0].attributes["amlaks.payload.truncated"], false);
        assert.equal(s.events[0].attributes["amlaks.payload.encoding"], "utf-8");
        assert.equal(payload(spans, "p-small", "response payload").text, answers["p-small"]);

        const m = payload(spans, "p-mid", "request payload");
        assert.equal(m.text, mid, "multi-byte characters are never split between parts");
        assert.equal(m.events.length, Math.ceil(Buffer.byteLength(mid) / PAYLOAD_PART_BYTES));

        const b = payload(spans, "p-big", "request payload");
        assert.equal(b.events.length, PAYLOAD_CAP_BYTES / PAYLOAD_PART_BYTES);
        assert.equal(b.text, big.slice(0, PAYLOAD_CAP_BYTES));
        assert.equal(b.events[0].attributes["amlaks.payload.truncated"], true);
        assert.equal(b.events[0].attributes["amlaks.payload.bytes"], Buffer.byteLength(big));
        const out = payload(spans, "p-big", "response payload");
        assert.equal(out.text, answers["p-big"].slice(0, PAYLOAD_CAP_BYTES));
    });
});
