/**
 * Limits (R19 and docs/design.md §5 "Limits"): 413 above the body limit by Content-Length (nothing
 * read, nothing forwarded) and while reading (bodies are read whole, within the router's buffer
 * budget, before a replica slot is taken: issue 15), slow clients (headers, body) → 408, oversized
 * headers → 431,
 * Expect: 100-continue answered before the upload.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, describe, test } from "node:test";
import { MAX_BODY_BYTES } from "../../router/router";
import { ReplicaServer } from "../support/replica-server";
import { countersAtZero, eventually, raw, sleep, startHarness, type Harness } from "./core-harness";

const replicas: ReplicaServer[] = [];
const harnesses: Harness[] = [];
after(async () => {
    await Promise.all(harnesses.map((h) => h.close()));
    await Promise.all(replicas.map((r) => r.close()));
});

async function setup(
    name: string,
    opts: Omit<Parameters<typeof startHarness>[0], "services"> = {},
): Promise<{ r: ReplicaServer; h: Harness }> {
    const r = await ReplicaServer.start({ id: name });
    replicas.push(r);
    const h = await startHarness({
        ...opts,
        services: [{ settings: { name, authEnabled: false }, replicas: [r.replica] }],
    });
    harnesses.push(h);
    return { r, h };
}

describe("router core: limits", () => {
    test("rejects a Content-Length above 100 MB with 413 before reading or forwarding", async () => {
        const { r, h } = await setup("big-cl");
        assert.equal(MAX_BODY_BYTES, 100 * 1024 * 1024);
        const text = await raw(h.url, (s) => {
            s.write(
                "POST /api/v1/service/big-cl/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                    `Content-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n{"data":`,
            );
        });
        assert.match(text, /^HTTP\/1\.1 413 /);
        assert.match(text, /connection: close/i);
        assert.equal(r.seen.length, 0, "nothing reached the replica");
    });

    test("accepts a body of exactly the limit", async () => {
        const { r, h } = await setup("exact", { router: { maxBodyBytes: 64 * 1024 } });
        const body = Buffer.alloc(64 * 1024, 0x61);
        const res = await new Promise<number>((resolve, reject) => {
            const req = http.request(
                `${h.url}/api/v1/service/exact/score`,
                { method: "POST", agent: false },
                (res) => {
                    res.resume();
                    res.on("end", () => resolve(res.statusCode ?? 0));
                },
            );
            req.on("error", reject);
            req.end(body);
        });
        assert.equal(res, 200);
        assert.equal(r.scored[0].bodyBytes, 64 * 1024);
    });

    test("reads a chunked upload before a replica slot is taken and cuts it with 413 past the limit", async () => {
        // Issue 15: the body is read whole first (no slot, nothing forwarded) so a slow uploader
        // costs router memory, never replica capacity.
        const limit = 1024 * 1024;
        const { r, h } = await setup("stream", { router: { maxBodyBytes: limit } });
        const chunk = Buffer.alloc(64 * 1024, 0x62);
        let status = 0;
        const req = http.request(`${h.url}/api/v1/service/stream/score`, {
            method: "POST",
            agent: false,
            headers: { "content-type": "application/octet-stream" },
        });
        req.on("response", (res) => {
            status = res.statusCode ?? 0;
            res.resume();
        });
        req.on("error", () => undefined);
        for (let i = 0; i < 8; i++) req.write(chunk);
        await eventually(() => h.router.bufferedBytes >= 8 * chunk.length, 3000, "half read");
        assert.equal(r.seen.length, 0, "nothing forwarded before the body is complete");
        assert.equal(h.router.load("stream").inFlight, 0, "no slot while uploading");
        for (let i = 0; i < 12 && !req.destroyed; i++) {
            req.write(chunk);
            await sleep(5);
        }
        await eventually(() => status !== 0, 3000, "response");
        assert.equal(status, 413);
        assert.equal(r.seen.length, 0);
        req.destroy();
        await eventually(() => countersAtZero(h.router, "stream") && h.router.bufferedBytes === 0);
    });

    test("answers Expect: 100-continue with 413 (or 100 for a good request) before the upload", async () => {
        const { r, h } = await setup("expect", { router: { maxBodyBytes: 1000 } });
        const tooBig = await raw(h.url, (s) => {
            s.write(
                "POST /api/v1/service/expect/score HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
            );
        });
        assert.match(tooBig, /^HTTP\/1\.1 413 /);
        assert.doesNotMatch(tooBig, /100 Continue/);
        const good = await new Promise<{ continued: boolean; status: number }>(
            (resolve, reject) => {
                let continued = false;
                const req = http.request(`${h.url}/api/v1/service/expect/score`, {
                    method: "POST",
                    agent: false,
                    headers: { expect: "100-continue", "content-length": "2" },
                });
                req.on("continue", () => {
                    continued = true;
                    req.end("{}");
                });
                req.on("response", (res) => {
                    res.resume();
                    res.on("end", () => resolve({ continued, status: res.statusCode ?? 0 }));
                });
                req.on("error", reject);
            },
        );
        assert.deepEqual(good, { continued: true, status: 200 });
        assert.equal(r.scored.length, 1);
        assert.equal(r.scored[0].headers.expect, undefined, "Expect is hop-by-hop");
    });

    test("closes a connection whose headers arrive too slowly with 408", async () => {
        const { r, h } = await setup("slowhead", { limits: { headersTimeoutMs: 300 } });
        const t0 = Date.now();
        const text = await raw(h.url, (s) => {
            s.write("POST /api/v1/service/slowhead/score HTTP/1.1\r\nHost: x\r\n");
        });
        assert.match(text, /^HTTP\/1\.1 408 /);
        assert.ok(Date.now() - t0 < 3000);
        assert.equal(r.seen.length, 0);
    });

    test("answers 408 when a small body stops arriving, before any replica is involved", async () => {
        const { r, h } = await setup("slowsmall", { router: { bodyIdleTimeoutMs: 200 } });
        const text = await raw(h.url, (s) => {
            s.write(
                "POST /api/v1/service/slowsmall/score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
            );
        });
        assert.match(text, /^HTTP\/1\.1 408 /);
        assert.equal(r.seen.length, 0, "small bodies are read before a replica slot is taken");
        assert.ok(countersAtZero(h.router, "slowsmall"));
    });

    test("answers 408 when a body stops arriving, without ever taking a replica slot", async () => {
        const { r, h } = await setup("slowbody", { router: { bodyIdleTimeoutMs: 200 } });
        const text = await raw(h.url, (s) => {
            s.write(
                "POST /api/v1/service/slowbody/score HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                    "x".repeat(70_000),
            );
        });
        assert.match(text, /^HTTP\/1\.1 408 /);
        assert.equal(r.seen.length, 0, "the replica never saw the request");
        await eventually(
            () => countersAtZero(h.router, "slowbody") && h.router.bufferedBytes === 0,
        );
    });

    test("answers 431 to oversized headers", async () => {
        const { r, h } = await setup("bighead", { limits: { maxHeaderSize: 4096 } });
        const text = await raw(h.url, (s) => {
            s.write(
                `GET /api/v1/service/bighead/score HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(8000)}\r\n\r\n`,
            );
        });
        assert.match(text, /^HTTP\/1\.1 431 /);
        assert.equal(r.seen.length, 0);
    });
});
