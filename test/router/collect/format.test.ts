/**
 * The pure parts of model data collection: v1's folder layout, batch file names, the sampler
 * and the JSON Lines records.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
    NO_MODEL,
    batchFileName,
    dayPath,
    folderOf,
    modelOf,
    segmentProblem,
} from "../../../router/collect/layout";
import { encodePayload, recordLine } from "../../../router/collect/records";
import { retryDelay } from "../../../router/collect/retry";
import { isSampled, sampleFraction } from "../../../router/collect/sampler";
import { serviceDefinition } from "./helpers";

describe("layout", () => {
    test("folders follow v1: <sub>/<rg>/<ws>/<service>/<model>/<version>/<designation>/<yyyy>/<mm>/<dd>", () => {
        const scope = { subscription: "0000-aaaa", resourceGroup: "ml-rg", workspace: "ws" };
        const t = Date.UTC(2024, 1, 29, 23, 59, 59);
        assert.equal(
            folderOf(scope, "diabetes", { name: "ridge", version: "12" }, "predictions", t),
            "0000-aaaa/ml-rg/ws/diabetes/ridge/12/predictions/2024/02/29",
        );
        assert.equal(dayPath(Date.UTC(2025, 0, 1, 0, 0, 0)), "2025/01/01", "days are UTC days");
    });

    test("batch files are named by UTC time, writer and sequence", () => {
        assert.equal(
            batchFileName(Date.UTC(2025, 4, 6, 7, 8, 9), "router-abc", 42),
            "data-070809-router-abc-000042.jsonl",
        );
    });

    test("the model folder: the first listed model; none or an unsafe name → _none/0", () => {
        assert.deepEqual(
            modelOf(
                serviceDefinition({}, [
                    { name: "a", version: "1" },
                    { name: "b", version: "2" },
                ]),
            ),
            { name: "a", version: "1" },
        );
        assert.deepEqual(modelOf(serviceDefinition({}, [])), NO_MODEL);
        assert.deepEqual(modelOf(undefined), NO_MODEL);
        assert.deepEqual(
            modelOf(serviceDefinition({}, [{ name: "../x", version: "1" }])),
            NO_MODEL,
        );
    });

    test("segments: no separators, no leading dot", () => {
        for (const ok of ["local", "8f2c0d1e-0000-4f5e-9c3b-123456789abc", "rg(prod)", "a.b_c-d"]) {
            assert.equal(segmentProblem(ok), undefined, ok);
        }
        for (const bad of ["", ".", "..", ".hidden", "a/b", "a\\b", "a b", "x".repeat(256), 5]) {
            assert.ok(segmentProblem(bad), String(bad));
        }
    });
});

describe("sampler", () => {
    test("deterministic per request id; 1 takes all, 0 none", () => {
        assert.equal(sampleFraction("abc"), sampleFraction("abc"));
        assert.notEqual(sampleFraction("req-1"), sampleFraction("req-2"));
        for (const id of ["a", "b", "req-9"]) {
            assert.equal(isSampled(id, 1), true);
            assert.equal(isSampled(id, 0), false);
        }
    });

    test("the share kept follows the rate (10,000 sequential ids within ±3 points)", () => {
        const ids = Array.from({ length: 10_000 }, (_, i) => `req-${i}`);
        for (const rate of [0.1, 0.5, 0.9]) {
            const share = ids.filter((id) => isSampled(id, rate)).length / ids.length;
            assert.ok(Math.abs(share - rate) < 0.03, `rate ${rate}: kept ${share}`);
        }
        // Nested: a request kept at 0.1 is also kept at 0.5 (one fraction per id).
        assert.ok(ids.filter((id) => isSampled(id, 0.1)).every((id) => isSampled(id, 0.5)));
    });
});

describe("records", () => {
    test("JSON bodies are embedded as JSON, others as text or base64, one line each", () => {
        assert.deepEqual(encodePayload(Buffer.from('{"data":[[1]]}')), {
            format: "json",
            json: '{"data":[[1]]}',
        });
        assert.deepEqual(encodePayload(Buffer.from("plain text")), {
            format: "text",
            json: '"plain text"',
        });
        assert.deepEqual(encodePayload(Buffer.alloc(0)), { format: "text", json: '""' });
        assert.equal(encodePayload(Buffer.from([0xc3, 0x28])).format, "base64");
        const line = recordLine(0, 'id-"1"', Buffer.from("[\n 1,\n 2\n]"));
        assert.equal(
            line,
            '{"time":"1970-01-01T00:00:00.000Z","requestId":"id-\\"1\\"","data":[1,2]}\n',
        );
        assert.deepEqual(JSON.parse(line), {
            time: "1970-01-01T00:00:00.000Z",
            requestId: 'id-"1"',
            data: [1, 2],
        });
    });
});

describe("retry schedule", () => {
    test("doubles from baseMs up to maxMs with jitter, and stops after maxRetries", () => {
        const policy = { maxRetries: 4, baseMs: 100, maxMs: 300 };
        assert.deepEqual(
            [0, 1, 2, 3].map((r) => retryDelay(policy, r, () => 0.999999)),
            [100, 200, 300, 300],
        );
        assert.deepEqual(
            [0, 1, 2, 3].map((r) => retryDelay(policy, r, () => 0)),
            [50, 100, 150, 150],
        );
        assert.equal(retryDelay(policy, 4), undefined);
    });
});
