/**
 * The telemetry environment (router/telemetry/config.ts): destinations, payload logging and queue
 * size, with every problem reported at once and the connection string never echoed.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Problems, ValidationError } from "../../../components/common/validation";
import { otlpTracesUrl, telemetryFromEnv } from "../../../router/telemetry/config";
import { connectionStringProblem } from "../../../router/telemetry/connection-string";
import { payloadParts } from "../../../router/telemetry/payload";

const CS =
    "InstrumentationKey=0f6a3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/";

function read(env: NodeJS.ProcessEnv): ReturnType<typeof telemetryFromEnv> {
    const p = new Problems();
    const out = telemetryFromEnv(env, p);
    p.throwIfAny("router environment");
    return out;
}

function problems(env: NodeJS.ProcessEnv): ValidationError {
    try {
        read(env);
    } catch (e) {
        if (e instanceof ValidationError) return e;
        throw e;
    }
    assert.fail("expected a ValidationError");
}

describe("telemetry environment", () => {
    test("off when no destination is set, whatever else is", () => {
        assert.equal(read({}), undefined);
        assert.equal(
            read({ ROUTER_TELEMETRY_PAYLOADS: "true", ROUTER_TELEMETRY_MAX_QUEUE: "10" }),
            undefined,
        );
    });

    test("Application Insights from APPLICATIONINSIGHTS_CONNECTION_STRING; defaults: no payloads, 2048 spans", () => {
        assert.deepEqual(read({ APPLICATIONINSIGHTS_CONNECTION_STRING: ` ${CS} ` }), {
            destinations: [{ kind: "azure-monitor", connectionString: CS }],
            logPayloads: false,
            maxQueueSize: 2048,
        });
    });

    test("OTLP: <endpoint>/v1/traces, or the traces endpoint as given; both destinations at once", () => {
        assert.deepEqual(
            read({
                OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
                APPLICATIONINSIGHTS_CONNECTION_STRING: CS,
                ROUTER_TELEMETRY_PAYLOADS: "true",
                ROUTER_TELEMETRY_MAX_QUEUE: "100",
            }),
            {
                destinations: [
                    { kind: "azure-monitor", connectionString: CS },
                    { kind: "otlp", url: "http://127.0.0.1:4318/v1/traces" },
                ],
                logPayloads: true,
                maxQueueSize: 100,
            },
        );
        assert.deepEqual(
            read({
                OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:4318",
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://collector.example/custom/traces",
            })?.destinations,
            [{ kind: "otlp", url: "https://collector.example/custom/traces" }],
        );
    });

    test("otlpTracesUrl appends /v1/traces once, keeps a base path, refuses non-http URLs", () => {
        assert.equal(otlpTracesUrl("http://127.0.0.1:4318/"), "http://127.0.0.1:4318/v1/traces");
        assert.equal(otlpTracesUrl("http://h:4318/otlp"), "http://h:4318/otlp/v1/traces");
        assert.equal(otlpTracesUrl("http://h:4318/v1/traces"), "http://h:4318/v1/traces");
        assert.equal(otlpTracesUrl("ftp://h/"), undefined);
        assert.equal(otlpTracesUrl("127.0.0.1:4318"), undefined);
    });

    test("every problem at once, naming the variable; the connection string and URL are never echoed", () => {
        const badCs = "InstrumentationKey=not-a-guid;IngestionEndpoint=https://x/";
        const badUrl = "tcp://user:secret@collector:4317";
        const e = problems({
            APPLICATIONINSIGHTS_CONNECTION_STRING: badCs,
            OTEL_EXPORTER_OTLP_ENDPOINT: badUrl,
            ROUTER_TELEMETRY_PAYLOADS: "yes",
            ROUTER_TELEMETRY_MAX_QUEUE: "0",
        });
        assert.deepEqual(
            e.problems.map((p) => p.field),
            [
                "APPLICATIONINSIGHTS_CONNECTION_STRING",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "ROUTER_TELEMETRY_PAYLOADS",
                "ROUTER_TELEMETRY_MAX_QUEUE",
            ],
        );
        assert.match(e.message, /InstrumentationKey is not a GUID/);
        assert.match(e.message, /must be an http\(s\) URL of an OTLP\/HTTP collector/);
        assert.match(e.message, /ROUTER_TELEMETRY_PAYLOADS: "yes" must be true or false/);
        assert.match(
            e.message,
            /ROUTER_TELEMETRY_MAX_QUEUE: "0" must be a whole number from 1 to 1000000/,
        );
        assert.ok(!e.message.includes("not-a-guid") && !e.message.includes("secret"));
    });
});

describe("connection strings", () => {
    test("accepts the portal's form, with or without an IngestionEndpoint", () => {
        assert.equal(connectionStringProblem(CS), undefined);
        assert.equal(
            connectionStringProblem("InstrumentationKey=0F6A3C2E-1B2D-4E5F-8A9B-0C1D2E3F4A5B"),
            undefined,
        );
    });

    test("names what is wrong", () => {
        assert.match(
            String(connectionStringProblem("IngestionEndpoint=https://x/")),
            /has no InstrumentationKey/,
        );
        assert.match(
            String(connectionStringProblem("0f6a3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b")),
            /has no InstrumentationKey/,
        );
        assert.match(
            String(
                connectionStringProblem(
                    "InstrumentationKey=0f6a3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b;IngestionEndpoint=westeurope",
                ),
            ),
            /IngestionEndpoint is not an http\(s\) URL/,
        );
    });
});

describe("payload parts", () => {
    test("valid UTF-8 stays text; parts never split a character; the cap cuts at a character", () => {
        const body = Buffer.from("aé€😀".repeat(10), "utf8"); // 1+2+3+4 bytes per round
        const p = payloadParts(body, body.length, 35, 8);
        assert.equal(p.encoding, "utf-8");
        assert.equal(p.bytes, 100);
        assert.equal(p.truncated, true);
        for (const part of p.parts) assert.ok(Buffer.byteLength(part) <= 8);
        assert.equal(
            p.parts.join(""),
            "aé€😀".repeat(3) + "aé",
            "35 bytes cut back to 33: € (bytes 34-36) is not split",
        );
    });

    test("binary bodies go as base64, the cap counting encoded characters", () => {
        const body = Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x81, 0x82, 0x83, 0x84]);
        const p = payloadParts(body, body.length, 8, 4);
        assert.equal(p.encoding, "base64");
        assert.deepEqual(p.parts, ["//4A", "AYCB"]);
        assert.equal(Buffer.from(p.parts.join(""), "base64").toString("hex"), "fffe00018081");
        assert.equal(p.truncated, true);
        assert.equal(payloadParts(Buffer.alloc(0), 0).parts.length, 0);
    });
});
