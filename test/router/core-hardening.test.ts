/**
 * Defects found by the attack run of issue 15, each against a real router on 127.0.0.1 and real
 * replicas (the in-process fake replica, and the Python harness where its own behaviour matters):
 * timers from huge settings, slots and the scoring timer versus slow clients, headers the model
 * must be able to trust, and bytes after a `Connection: close` request.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { after, describe, test } from "node:test";
import { ReplicaServer } from "../support/replica-server";
import { PYTHON, startHarness as startPythonReplica, type Proc } from "../runtime/helpers";
import {
    countersAtZero,
    definition,
    eventually,
    raw,
    score,
    sleep,
    startHarness,
    type Harness,
} from "./core-harness";

const replicas: ReplicaServer[] = [];
const harnesses: Harness[] = [];
const procs: Proc[] = [];
after(async () => {
    await Promise.all(harnesses.map((h) => h.close()));
    await Promise.all(replicas.map((r) => r.close()));
    await Promise.all(procs.map((p) => p.stop()));
});

async function setup(
    name: string,
    opts: {
        router?: Parameters<typeof startHarness>[0]["router"];
        settings?: Record<string, unknown>;
        captureLogs?: boolean;
    } = {},
): Promise<{ r: ReplicaServer; h: Harness }> {
    const r = await ReplicaServer.start({ id: name });
    replicas.push(r);
    const h = await startHarness({
        router: opts.router,
        captureLogs: opts.captureLogs,
        services: [
            {
                settings: { name, authEnabled: false, ...opts.settings },
                replicas: [r.replica],
            },
        ],
    });
    harnesses.push(h);
    return { r, h };
}

describe("issue 15: timers armed from settings", () => {
    test("a scoringTimeoutMs or maxRequestWaitTime of 2^31 ms waits, it does not fail at once", async () => {
        // Validation refuses such values (test/settings); a definition built in code must still
        // not turn them into Node's 1 ms timer.
        const { r, h } = await setup("huge-timers");
        const d = definition({ name: "huge-timers", authEnabled: false });
        h.router.onService({
            ...d,
            settings: { ...d.settings, scoringTimeoutMs: 2 ** 31, maxRequestWaitTime: 1e30 },
        });
        r.behaviour = { delayMs: 50 };
        const first = await score(h.url, "huge-timers");
        assert.equal(first.status, 200, "not a 504 after 1 ms");
        // A second request must queue behind a held one, not get 503 after 1 ms.
        r.behaviour = { hold: true };
        const held = score(h.url, "huge-timers");
        await r.waitFor(() => r.holding === 1, 3000, "first request held");
        const queued = score(h.url, "huge-timers");
        await sleep(100);
        assert.equal(h.router.load("huge-timers").queued, 1, "still queued after 100 ms");
        r.behaviour = {};
        r.release();
        assert.equal((await held).status, 200);
        assert.equal((await queued).status, 200);
        await eventually(() => countersAtZero(h.router, "huge-timers"));
    });
});

describe("issue 15: slow clients cost router memory, not replica slots", () => {
    test("a slow chunked upload holds no slot and its upload time is not scoring time", async () => {
        const { r, h } = await setup("slow-upload", { settings: { scoringTimeoutMs: 300 } });
        const status = new Promise<number>((resolve, reject) => {
            const req = http.request(
                `${h.url}/api/v1/service/slow-upload/score`,
                { method: "POST", agent: false, headers: { "content-type": "application/json" } },
                (res) => {
                    res.resume();
                    res.on("end", () => resolve(res.statusCode ?? 0));
                },
            );
            req.on("error", reject);
            void (async () => {
                // Chunked, 6 pieces over ~900 ms: three times the scoring timeout.
                const parts = ['{"data": [', "1,", "2,", "3,", "4", "]}"];
                for (const p of parts) {
                    req.write(p);
                    await sleep(150);
                    assert.equal(
                        h.router.load("slow-upload").inFlight,
                        0,
                        "no slot while uploading",
                    );
                    assert.equal(r.seen.length, 0, "nothing forwarded before the body is complete");
                }
                req.end();
            })().catch(reject);
        });
        assert.equal(await status, 200);
        assert.equal(r.scored[0].bodyBytes, Buffer.byteLength('{"data": [1,2,3,4]}'));
        await eventually(
            () => countersAtZero(h.router, "slow-upload") && h.router.bufferedBytes === 0,
        );
    });

    test("a client that stops reading frees the slot at once and later gets the whole 200, as logged", async () => {
        const big = "y".repeat(24 * 1024 * 1024); // far beyond socket buffers: must wait for the client
        const { r, h } = await setup("no-read", {
            settings: { scoringTimeoutMs: 5000 },
            captureLogs: true,
        });
        r.behaviour = { body: { big } };
        const u = new URL(h.url);
        const s = net.connect(Number(u.port), u.hostname);
        s.pause(); // the client reads nothing for now
        await new Promise<void>((resolve) => s.once("connect", () => resolve()));
        s.write(
            "POST /api/v1/service/no-read/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        );
        await r.waitFor(
            () => r.scored[0]?.answered === true,
            5000,
            "the replica finished its answer",
        );
        await eventually(() => h.router.load("no-read").inFlight === 0, 2000, "slot released");
        assert.ok(h.router.bufferedBytes > 0, "the answer waits in router memory");
        await sleep(5200); // past scoringTimeoutMs: no 504 may happen now
        const chunks: Buffer[] = [];
        s.on("data", (d: Buffer) => chunks.push(d));
        s.resume();
        const expected = Buffer.byteLength(JSON.stringify({ big }));
        await eventually(
            () => {
                const text = Buffer.concat(chunks).toString("latin1");
                const head = text.indexOf("\r\n\r\n");
                return head > 0 && text.length - head - 4 >= expected;
            },
            10_000,
            "the whole answer",
        );
        const text = Buffer.concat(chunks).toString("latin1");
        assert.match(text, /^HTTP\/1\.1 200 /);
        assert.match(text, new RegExp(`content-length: ${expected}\\r\\n`, "i"));
        s.destroy();
        const log = await (async () => {
            await eventually(() => h.logs.some((l) => l.msg === "request"), 3000, "access log");
            return h.logs.filter((l) => l.msg === "request");
        })();
        assert.deepEqual(
            log.map((l) => l.status),
            [200],
            "the status logged is the status the client saw",
        );
        await eventually(() => h.router.bufferedBytes === 0);
    });

    test("refuses a body beyond the router's buffer budget with 503 and Retry-After", async () => {
        const { r, h } = await setup("budget", { router: { maxBufferedBytes: 256 * 1024 } });
        const res = await score(h.url, "budget", { body: Buffer.alloc(512 * 1024, 0x61) });
        assert.equal(res.status, 503);
        assert.equal(res.headers["retry-after"], "1");
        assert.equal(r.seen.length, 0);
        await eventually(() => h.router.bufferedBytes === 0 && countersAtZero(h.router, "budget"));
        assert.equal((await score(h.url, "budget")).status, 200, "small bodies still pass");
    });
});

describe("issue 15: headers", () => {
    test("overwrites X-Real-IP and Forwarded from the client, as it appends to X-Forwarded-For", async () => {
        const { h } = await setup("fwd");
        const res = await score(h.url, "fwd", {
            headers: {
                "x-real-ip": "6.6.6.6",
                forwarded: "for=6.6.6.6;proto=https",
                "x-forwarded-for": "7.7.7.7",
            },
        });
        assert.equal(res.status, 200);
        const seen = JSON.parse(res.body).headers as Record<string, string>;
        assert.equal(seen["x-real-ip"], "127.0.0.1");
        assert.match(seen.forwarded, /^for=127\.0\.0\.1;proto=http;host="127\.0\.0\.1:\d+"$/);
        assert.equal(seen["x-forwarded-for"], "7.7.7.7, 127.0.0.1");
    });

    test("refuses a duplicate Host with 400 before any replica sees the request", async () => {
        const { r, h } = await setup("two-hosts");
        const text = await raw(h.url, (s) =>
            s.write(
                "GET /api/v1/service/two-hosts/score HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
            ),
        );
        assert.match(text, /^HTTP\/1\.1 400 /);
        assert.match(text, /more than one Host/);
        assert.equal(r.seen.length, 0);
    });

    test("writes only the valid answer when bytes follow a Connection: close request", async () => {
        const { r, h } = await setup("trailing");
        r.behaviour = { delayMs: 200 }; // the garbage arrives while the answer is pending
        const text = await raw(h.url, (s) =>
            s.write(
                "POST /api/v1/service/trailing/score HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}GARBAGE \x01\x02 NOT HTTP\r\n\r\n",
            ),
        );
        assert.match(text, /^HTTP\/1\.1 200 /);
        assert.doesNotMatch(text, /HTTP\/1\.1 400/);
        assert.equal((text.match(/HTTP\/1\.1 /g) ?? []).length, 1);
    });
});

describe("issue 15: headers with the Python harness as the replica", { timeout: 60_000 }, () => {
    let h: Harness;
    test("starts", async () => {
        const py = await startPythonReplica("echo.py", { env: { AMLAKS_PYTHON: PYTHON } });
        procs.push(py.proc);
        h = await startHarness({
            services: [
                {
                    settings: { name: "py-replica", authEnabled: false },
                    replicas: [{ id: "py", url: py.url }],
                },
            ],
        });
        harnesses.push(h);
    });

    test("does not pass the model server's Server header to clients", async () => {
        const res = await score(h.url, "py-replica", { body: '"hello"' });
        assert.equal(res.status, 200);
        assert.equal(res.headers.server, undefined);
    });

    test("answers more than 100 headers with its own JSON 431, also when its added headers tip it over", async () => {
        const many = (n: number): Record<string, string> =>
            Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h-${i}`, "v"]));
        // 101 from the client; then 95, within the client limit but not with the router's own.
        for (const n of [101, 95]) {
            const res = await score(h.url, "py-replica", { headers: many(n), body: '"x"' });
            assert.equal(res.status, 431, `${n} headers`);
            assert.match(String(res.headers["content-type"]), /application\/json/);
            assert.match(JSON.parse(res.body).message, /Too many request header fields/);
        }
        const ok = await score(h.url, "py-replica", { headers: many(80), body: '"x"' });
        assert.equal(ok.status, 200, "80 headers fit");
    });
});
