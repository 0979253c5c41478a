/**
 * From a finished request to spans (router/telemetry/spans.ts): which spans, which fields, which
 * events, for each kind of outcome — the decisions behind what Application Insights shows.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { validateWebserviceSettings } from "../../../components/settings";
import type { ExchangeRecord } from "../../../router/observe";
import {
    ATTR,
    EVENT,
    planExchange,
    REPLICA_ERROR,
    toExportRecord,
} from "../../../router/telemetry/spans";
import { PAYLOAD_HEAD_BYTES } from "../../../router/telemetry/payload";

const settings = validateWebserviceSettings({ name: "svc", enableAppInsights: true });
const base: ExchangeRecord = {
    requestId: "rid-1",
    service: "svc",
    definition: { name: "svc", settings, auth: { mode: "none" } },
    method: "POST",
    path: "/api/v1/service/svc/score",
    status: 200,
    replica: "svc-0",
    attempts: 1,
    clientAddress: "10.0.0.7",
    startTime: 1_700_000_000_000,
    durationMs: 40,
    queueMs: 5,
    modelMs: 30,
    requestBytes: 12,
    responseBytes: 34,
};

describe("planExchange", () => {
    test("a served request: server span with the request's fields, client span at the end for the model time", () => {
        const { server, client } = planExchange(toExportRecord(base, false));
        assert.equal(server.name, "POST /api/v1/service/svc/score");
        assert.equal(server.kind, "server");
        assert.equal(server.startTime, base.startTime);
        assert.equal(server.endTime, base.startTime + 40);
        assert.equal(server.error, false);
        assert.deepEqual(server.events, []);
        assert.deepEqual(server.attributes, {
            "http.request.method": "POST",
            "url.path": "/api/v1/service/svc/score",
            "http.response.status_code": 200,
            "client.address": "10.0.0.7",
            [ATTR.requestId]: "rid-1",
            [ATTR.service]: "svc",
            [ATTR.replica]: "svc-0",
            [ATTR.attempts]: 1,
            [ATTR.queueMs]: 5,
            [ATTR.modelMs]: 30,
            "http.request.body.size": 12,
            "http.response.body.size": 34,
        });
        assert.ok(client);
        assert.equal(client.name, "POST /score");
        assert.equal(client.startTime, base.startTime + 10);
        assert.equal(client.endTime, base.startTime + 40);
        assert.equal(client.error, false);
        assert.equal(client.attributes["http.response.status_code"], 200);
        assert.equal(client.attributes[ATTR.peerService], "svc");
    });

    test("swagger requests go to the replica's /swagger.json", () => {
        const { client } = planExchange(
            toExportRecord(
                { ...base, method: "GET", path: "/api/v1/service/svc/swagger.json" },
                false,
            ),
        );
        assert.equal(client?.name, "GET /swagger.json");
    });

    test("the replica's 4xx: a failed dependency, not a server error, no exception", () => {
        const { server, client } = planExchange(toExportRecord({ ...base, status: 400 }, false));
        assert.equal(server.error, false);
        assert.deepEqual(server.events, []);
        assert.equal(client?.error, true);
        assert.equal(client?.attributes["error.type"], "400");
    });

    test("the replica's 5xx: exception replica_error naming the replica", () => {
        const { server, client } = planExchange(toExportRecord({ ...base, status: 503 }, false));
        assert.equal(server.error, true);
        assert.equal(server.attributes["error.type"], "503");
        assert.equal(server.events.length, 1);
        assert.equal(server.events[0].name, EVENT.exception);
        assert.equal(server.events[0].time, server.endTime);
        assert.equal(server.events[0].attributes["exception.type"], REPLICA_ERROR);
        assert.equal(
            server.events[0].attributes["exception.message"],
            "The model replica svc-0 answered 503.",
        );
        assert.equal(client?.error, true);
    });

    test("a scoring timeout: exception with the outcome's description, dependency failed without a status", () => {
        const { server, client } = planExchange(
            toExportRecord(
                {
                    ...base,
                    status: 504,
                    reason: "scoring_timeout",
                    modelMs: 60_000,
                    durationMs: 60_010,
                },
                false,
            ),
        );
        assert.equal(server.attributes[ATTR.outcome], "scoring_timeout");
        assert.equal(server.events[0].attributes["exception.type"], "scoring_timeout");
        assert.match(String(server.events[0].attributes["exception.message"]), /scoringTimeoutMs/);
        assert.equal(client?.error, true);
        assert.equal(client?.attributes["error.type"], "scoring_timeout");
        assert.equal(client?.attributes["http.response.status_code"], undefined);
    });

    test("answered by the router before any replica: no dependency; 503 queue_full is an exception, 401 is not", () => {
        const queued = planExchange(
            toExportRecord(
                {
                    ...base,
                    status: 503,
                    reason: "queue_full",
                    replica: undefined,
                    modelMs: undefined,
                    attempts: 0,
                },
                false,
            ),
        );
        assert.equal(queued.client, undefined);
        assert.equal(queued.server.events[0].attributes["exception.type"], "queue_full");
        const denied = planExchange(
            toExportRecord(
                {
                    ...base,
                    status: 401,
                    reason: "unauthorized",
                    replica: undefined,
                    modelMs: undefined,
                    queueMs: undefined,
                },
                false,
            ),
        );
        assert.equal(denied.client, undefined);
        assert.deepEqual(denied.server.events, []);
        assert.equal(denied.server.error, false);
    });

    test("a client that went away after the replica answered: 499, dependency not failed", () => {
        const { server, client } = planExchange(
            toExportRecord({ ...base, status: 499, reason: "client_closed" }, false),
        );
        assert.equal(server.error, false);
        assert.equal(client?.error, false);
        assert.equal(client?.attributes["http.response.status_code"], undefined);
    });

    test("a retry on another replica is a trace event", () => {
        const { server } = planExchange(
            toExportRecord({ ...base, attempts: 2, replica: "svc-1" }, false),
        );
        assert.deepEqual(
            server.events.map((e) => [
                e.name,
                e.attributes[ATTR.attempts],
                e.attributes[ATTR.replica],
            ]),
            [[EVENT.retried, 2, "svc-1"]],
        );
    });

    test("bodies become payload events only when payload logging is on", () => {
        const withBodies = {
            ...base,
            requestBody: Buffer.from('{"data": [[1]]}'),
            responseBody: Buffer.from("[0.5]"),
        };
        assert.deepEqual(planExchange(toExportRecord(withBodies, false)).server.events, []);
        const events = planExchange(toExportRecord(withBodies, true)).server.events;
        assert.deepEqual(
            events.map((e) => [e.name, e.time, e.attributes[ATTR.payload]]),
            [
                [EVENT.requestPayload, base.startTime, '{"data": [[1]]}'],
                [EVENT.responsePayload, base.startTime + 40, "[0.5]"],
            ],
        );
    });

    test("a model time longer than the request (clock rounding) keeps the dependency inside it", () => {
        const { client } = planExchange(toExportRecord({ ...base, modelMs: 45 }, false));
        assert.equal(client?.startTime, base.startTime);
    });

    test("what crosses to the export worker: no service definition (keys), bodies cut to the logged head", () => {
        const keyed: ExchangeRecord = {
            ...base,
            definition: {
                name: "svc",
                settings,
                auth: { mode: "key", primaryKey: "pk-0123456789abcdef0123456789ab" },
            },
            requestBody: Buffer.alloc(100_000, 0x61),
            responseBody: Buffer.from("[1]"),
        };
        const without = toExportRecord(keyed, false);
        assert.ok(!("definition" in without) && !("requestPayload" in without));
        assert.ok(!JSON.stringify(without).includes("pk-0123456789abcdef"));
        const withBodies = toExportRecord(keyed, true);
        assert.equal(withBodies.requestPayload?.bytes, 100_000);
        assert.equal(withBodies.requestPayload?.head.length, PAYLOAD_HEAD_BYTES);
        assert.equal(
            withBodies.requestPayload?.head.buffer.byteLength,
            PAYLOAD_HEAD_BYTES,
            "own memory",
        );
        assert.deepEqual([...(withBodies.responsePayload?.head ?? [])], [0x5b, 0x31, 0x5d]);
    });
});
