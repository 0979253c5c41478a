/**
 * Access logs (issue 12 item 1): one JSON line per request through the router's real logger
 * (createLogger: pino, ISO time, redaction), every field checked, and the raw output searched for
 * the key, the token, the Authorization header and the payload; the level decides which lines
 * are written.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import * as http from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Authenticator, generateSigningKey, getToken } from "../../router/auth";
import pino from "pino";
import {
    LOG_FLUSH_MS,
    LOG_LEVELS,
    accessLog,
    accessLogger,
    cachedIsoTime,
    createLogger,
    logAccess,
    msText,
    type AccessLogSource,
} from "../../router/log";
import { optionsFromEnv } from "../../router/main";
import { Router } from "../../router/router";
import { RouterServer } from "../../router/server";
import { ReplicaServer } from "../support/replica-server";
import { definition, eventually, score } from "./core-harness";

const KEY = "access-log-primary-key-0123456789abcdef";
const ISSUER = "amlaks://access-log-test";
const PAYLOAD = "PAYLOAD-MARKER-7f3e9c";
const QUERY_SECRET = "QUERY-MARKER-51ab";
const LOG_MODULE = join(__dirname, "..", "..", "router", "log.ts");

/** Fields every access line has, beside the optional ones below. */
const REQUIRED = [
    "level",
    "time",
    "pid",
    "hostname",
    "name",
    "msg",
    "requestId",
    "service",
    "method",
    "path",
    "status",
    "durationMs",
    "requestBytes",
    "responseBytes",
    "clientAddress",
];
const OPTIONAL = ["queueMs", "modelMs", "replica", "attempts", "reason"];

interface Logged {
    raw: string;
    lines(): Array<Record<string, unknown>>;
    access(id: string): Record<string, unknown>;
}

function capture(): { destination: { write(s: string): void }; logged: Logged } {
    const logged: Logged = {
        raw: "",
        lines() {
            return this.raw
                .split("\n")
                .filter((l) => l.trim() !== "")
                .map((l) => JSON.parse(l) as Record<string, unknown>);
        },
        access(id) {
            const found = this.lines().filter((l) => l.msg === "request" && l.requestId === id);
            assert.equal(found.length, 1, `one access line for ${id}`);
            return found[0];
        },
    };
    return {
        destination: {
            write(s: string) {
                logged.raw += s;
            },
        },
        logged,
    };
}

async function startRouter(level: string, logged: ReturnType<typeof capture>) {
    const router = new Router({
        logger: createLogger({ level, destination: logged.destination }),
        authenticator: new Authenticator(),
        defaultMetrics: false,
    });
    const server = new RouterServer({ router, host: "127.0.0.1", httpPort: 0 });
    await server.start();
    return { router, server, url: server.httpUrl as string };
}

describe("access log", () => {
    let replica: ReplicaServer;
    let crashing: ReplicaServer;
    let token: string;
    let t: Awaited<ReturnType<typeof startRouter>>;
    const c = capture();

    before(async () => {
        replica = await ReplicaServer.start({ id: "model-0" });
        crashing = await ReplicaServer.start({
            id: "crash-0",
            behaviour: { crash: "before-response" },
        });
        t = await startRouter("info", c);
        const keyed = definition({ name: "keyed", authEnabled: true, primaryKey: KEY });
        t.router.onService(keyed);
        t.router.onReplicas("keyed", [replica.replica]);
        const signing = await generateSigningKey();
        const tokenDef = definition({ name: "tokened", tokenAuthEnabled: true });
        t.router.onService({
            ...tokenDef,
            auth: {
                mode: "token",
                signingPublicKeys: [signing.publicJwk],
                issuer: ISSUER,
                audience: "tokened-audience",
            },
        });
        t.router.onReplicas("tokened", [replica.replica]);
        t.router.onService(definition({ name: "crashing", authEnabled: false }));
        t.router.onReplicas("crashing", [crashing.replica]);
        token = (
            await getToken({
                service: "tokened",
                signingKey: signing.privateJwk,
                issuer: ISSUER,
                audience: "tokened-audience",
            })
        ).accessToken;
    });
    after(async () => {
        await t.server.close(1000);
        await replica.close();
        await crashing.close();
    });

    test("writes one JSON line per forwarded request with every field", async () => {
        const body = JSON.stringify({ data: [[1, 2, 3]], note: PAYLOAD });
        const res = await score(t.url, "keyed", {
            body,
            query: `?q=${QUERY_SECRET}`,
            headers: { authorization: `Bearer ${KEY}`, "x-request-id": "log-key-1" },
        });
        assert.equal(res.status, 200);
        await eventually(() => c.logged.raw.includes('"log-key-1"'));
        const line = c.logged.access("log-key-1");
        assert.deepEqual(
            Object.keys(line).sort(),
            [...REQUIRED, "queueMs", "modelMs", "replica", "attempts"].sort(),
        );
        assert.equal(line.level, 30);
        assert.match(line.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(Math.abs(Date.parse(line.time as string) - Date.now()) < 10_000);
        assert.equal(line.name, "amlaks-router");
        assert.equal(line.msg, "request");
        assert.equal(line.service, "keyed");
        assert.equal(line.method, "POST");
        assert.equal(line.path, "/api/v1/service/keyed/score");
        assert.equal(line.status, 200);
        assert.equal(line.replica, "model-0");
        assert.equal(line.attempts, 1);
        assert.equal(line.requestBytes, Buffer.byteLength(body));
        assert.equal(line.responseBytes, Buffer.byteLength(res.body));
        assert.equal(line.clientAddress, "127.0.0.1");
        for (const f of ["durationMs", "queueMs", "modelMs"]) {
            assert.equal(typeof line[f], "number", f);
            assert.ok((line[f] as number) >= 0, f);
        }
        assert.ok((line.durationMs as number) >= (line.modelMs as number));
    });

    test("logs the router's own answers with their reason", async () => {
        const res = await score(t.url, "keyed", {
            headers: { authorization: `Bearer ${token}`, "x-request-id": "log-401-1" },
        });
        assert.equal(res.status, 401);
        await eventually(() => c.logged.raw.includes('"log-401-1"'));
        const line = c.logged.access("log-401-1");
        assert.deepEqual(Object.keys(line).sort(), [...REQUIRED, "reason"].sort());
        assert.equal(line.status, 401);
        assert.equal(line.reason, "unauthorized");
        assert.equal(line.service, "keyed");
        assert.equal(line.responseBytes, Buffer.byteLength(res.body));
        assert.equal(line.requestBytes, 0);
    });

    test("logs token-auth requests, and failures of a replica at warn", async () => {
        const ok = await score(t.url, "tokened", {
            headers: { authorization: `Bearer ${token}`, "x-request-id": "log-token-1" },
        });
        assert.equal(ok.status, 200);
        const bad = await score(t.url, "crashing", { headers: { "x-request-id": "log-502-1" } });
        assert.equal(bad.status, 502);
        await eventually(
            () => c.logged.raw.includes('"log-token-1"') && c.logged.raw.includes('"log-502-1"'),
        );
        assert.equal(c.logged.access("log-token-1").status, 200);
        const failed = c.logged.access("log-502-1");
        assert.equal(failed.level, 40);
        assert.equal(failed.reason, "replica_reset");
        assert.equal(failed.replica, "crash-0");
        for (const k of OPTIONAL) assert.ok(k in failed, k);
    });

    test("never writes the key, the token, the Authorization header, the query or the payload", () => {
        const raw = c.logged.raw;
        assert.ok(raw.length > 0);
        for (const secret of [KEY, token, token.split(".")[2], PAYLOAD, QUERY_SECRET]) {
            assert.equal(raw.includes(secret), false, `found ${secret.slice(0, 12)}… in the log`);
        }
        assert.doesNotMatch(raw, /authorization|bearer/i);
    });
});

describe("access log level", () => {
    test("at warn keeps only the lines of failed requests", async () => {
        const c = capture();
        const replica = await ReplicaServer.start({ id: "ok-0" });
        const crashing = await ReplicaServer.start({
            id: "crash-1",
            behaviour: { crash: "before-response" },
        });
        const t = await startRouter("warn", c);
        try {
            t.router.onService(definition({ name: "fine", authEnabled: false }));
            t.router.onReplicas("fine", [replica.replica]);
            t.router.onService(definition({ name: "bad", authEnabled: false }));
            t.router.onReplicas("bad", [crashing.replica]);
            assert.equal(
                (await score(t.url, "fine", { headers: { "x-request-id": "w-ok" } })).status,
                200,
            );
            assert.equal(
                (await score(t.url, "bad", { headers: { "x-request-id": "w-bad" } })).status,
                502,
            );
            await eventually(() => c.logged.raw.includes('"w-bad"'));
        } finally {
            await t.server.close(1000);
            await replica.close();
            await crashing.close();
        }
        const access = c.logged.lines().filter((l) => l.msg === "request");
        assert.deepEqual(
            access.map((l) => l.requestId),
            ["w-bad"],
        );
    });

    test("comes from ROUTER_LOG_LEVEL, checked with the field, the value and the levels allowed", () => {
        assert.throws(
            () => optionsFromEnv({ ROUTER_LOG_LEVEL: "loud" }),
            (err: Error) =>
                err.message.includes("ROUTER_LOG_LEVEL") &&
                err.message.includes('"loud"') &&
                LOG_LEVELS.every((l) => err.message.includes(l)),
        );
        const saved = process.env.ROUTER_LOG_LEVEL;
        try {
            process.env.ROUTER_LOG_LEVEL = "debug";
            assert.equal(createLogger({ destination: { write: () => undefined } }).level, "debug");
            process.env.ROUTER_LOG_LEVEL = "verbose";
            assert.throws(() => createLogger(), /ROUTER_LOG_LEVEL: "verbose" must be one of/);
        } finally {
            if (saved === undefined) delete process.env.ROUTER_LOG_LEVEL;
            else process.env.ROUTER_LOG_LEVEL = saved;
        }
    });
});

// A GET with the payload in the query: the path logged has no query string.
describe("access log paths", () => {
    test("drop the query string of GET scoring requests", async () => {
        const c = capture();
        const replica = await ReplicaServer.start({ id: "get-0" });
        const t = await startRouter("info", c);
        try {
            t.router.onService(definition({ name: "getter", authEnabled: false }));
            t.router.onReplicas("getter", [replica.replica]);
            const status = await new Promise<number>((resolve, reject) => {
                http.get(
                    `${t.url}/api/v1/service/getter/score?data=${PAYLOAD}`,
                    { headers: { "x-request-id": "log-get-1" }, agent: false },
                    (res) => {
                        res.resume();
                        res.on("end", () => resolve(res.statusCode ?? 0));
                    },
                ).on("error", reject);
            });
            assert.equal(status, 200);
            await eventually(() => c.logged.raw.includes('"log-get-1"'));
        } finally {
            await t.server.close(1000);
            await replica.close();
        }
        assert.equal(c.logged.access("log-get-1").path, "/api/v1/service/getter/score");
        assert.equal(c.logged.raw.includes(PAYLOAD), false);
    });
});

describe("log lines on stdout (stdoutDestination: batched, flushed on a timer and at exit)", () => {
    /** Runs `body` in a child process that logs through createLogger() to its real stdout. */
    function child(body: string): ChildProcess {
        const script = `const { createLogger } = require(${JSON.stringify(LOG_MODULE)});\n${body}`;
        return spawn(process.execPath, ["--import", "tsx", "-e", script], {
            stdio: ["ignore", "pipe", "inherit"],
            env: { ...process.env, ROUTER_LOG_LEVEL: "info" },
        });
    }

    test("every line written before process.exit() reaches stdout, whole and in order", async () => {
        const c = child(
            `const log = createLogger();
             for (let i = 0; i < 5000; i++) log.info({ seq: i }, "request");
             process.exit(0);`,
        );
        let out = "";
        c.stdout!.on("data", (d: Buffer) => (out += d.toString()));
        await once(c, "close");
        const seqs = out
            .trim()
            .split("\n")
            .map((l) => (JSON.parse(l) as { seq: number }).seq);
        assert.deepEqual(
            seqs,
            Array.from({ length: 5000 }, (_, i) => i),
        );
    });

    test("a lone line is written within the flush interval while the process keeps running", async () => {
        const c = child(
            `const log = createLogger();
             log.info({ lone: true }, "one line");
             setInterval(() => {}, 1000);`,
        );
        try {
            // LOG_FLUSH_MS plus process start-up; a line stuck in the batch would never come.
            const [chunk] = (await once(c.stdout!, "data", {
                signal: AbortSignal.timeout(10_000 + LOG_FLUSH_MS),
            })) as [Buffer];
            assert.equal((JSON.parse(chunk.toString()) as { lone: boolean }).lone, true);
        } finally {
            c.kill("SIGKILL");
        }
    });

    test("the time field is pino's ISO 8601 text, reused within a millisecond", () => {
        const a = cachedIsoTime();
        assert.match(a, /^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
        const parsed = Date.parse(JSON.parse(a.slice(8)) as string);
        assert.ok(Math.abs(parsed - Date.now()) < 1000);
    });
});

describe("accessLog", () => {
    /** A settled request as the router hands it to the access log. */
    function source(over: Partial<AccessLogSource> = {}): AccessLogSource {
        return {
            requestId: "3f0c8f5e-8a53-4c4e-9a8b-2b0f0b7f6c1d",
            service: "bench",
            req: { method: "POST", socket: { remoteAddress: "10.1.2.3" } },
            path: "/api/v1/service/bench/score",
            status: 200,
            queueMs: 0.25,
            modelMs: 1.0004,
            replica: "bench-7d9f-0",
            attempts: 1,
            requestBytes: 40,
            responseBytes: 14,
            reason: undefined,
            ...over,
        };
    }

    const CASES: [string, Partial<AccessLogSource>][] = [
        ["forwarded", {}],
        [
            "refused before a replica",
            {
                status: 401,
                queueMs: undefined,
                modelMs: undefined,
                replica: undefined,
                attempts: 0,
                reason: "unauthorized",
                service: "(unknown)",
            },
        ],
        ["a replica failure, at warn", { status: 502, reason: "replica_reset", attempts: 2 }],
        ["503 stays at info", { status: 503, reason: "queue_full" }],
        [
            "quotes, backslashes and non-ASCII",
            { requestId: 'a"b\\c', path: "/api/v1/service/ü/score", replica: "r\u00e9" },
        ],
        ["no client address, no method", { req: { socket: {} } }],
    ];

    test("writes, for a createLogger logger, exactly the line pino writes", () => {
        for (const [name, over] of CASES) {
            const direct = capture();
            const viaPino = capture();
            accessLog(createLogger({ destination: direct.destination }), undefined).write(
                source(over),
                3.14159,
            );
            logAccess(
                accessLogger(createLogger({ destination: viaPino.destination })),
                source(over),
                3.14159,
            );
            const sameTime = (s: string) => s.replace(/"time":"[^"]+"/, '"time":"T"');
            assert.equal(sameTime(direct.logged.raw), sameTime(viaPino.logged.raw), name);
            assert.ok(direct.logged.raw.endsWith("\n"), name);
            JSON.parse(direct.logged.raw);
        }
    });

    test("keeps the level rules: warn for failures, nothing below the logger's level", () => {
        const c = capture();
        const log = accessLog(createLogger({ destination: c.destination, level: "warn" }));
        log.write(source(), 1);
        log.write(source({ status: 503 }), 1);
        log.write(source({ status: 504, reason: "scoring_timeout" }), 1);
        const lines = c.logged.raw.trim().split("\n");
        assert.equal(lines.length, 1);
        assert.equal((JSON.parse(lines[0]) as { level: number; status: number }).status, 504);
        const failures = capture();
        const only = accessLog(createLogger({ destination: failures.destination }), "warn");
        only.write(source(), 1);
        only.write(source({ status: 500, reason: "replica_error" }), 1);
        assert.equal(failures.logged.raw.trim().split("\n").length, 1);
    });

    test("goes through pino for a logger made elsewhere (its formatters apply)", () => {
        const c = capture();
        const custom = pino(
            { formatters: { level: (label) => ({ level: label }) } },
            c.destination,
        );
        accessLog(custom).write(source(), 1);
        assert.equal((JSON.parse(c.logged.raw) as { level: string }).level, "info");
    });
});

describe("msText", () => {
    test("is the text pino writes for a duration rounded to microseconds", () => {
        const values = [
            0, 0.0004, 0.0005, 0.001, 0.01, 0.1, 0.25, 0.5, 1, 1.0004, 2.0105, 9.999, 10, 99.9996,
            1234.5678, 30000, 300000.001,
        ];
        let x = 0.000123;
        for (let i = 0; i < 20_000; i++) {
            x = (x * 7.31 + 0.137) % 5000; // spread over 0–5000 ms with every kind of fraction
            values.push(
                x,
                x / 1000,
                Math.round(x),
                Math.round(x * 10) / 10,
                Math.round(x * 100) / 100,
            );
        }
        for (const v of values) {
            assert.equal(msText(v), String(Math.round(v * 1000) / 1000), `msText(${v})`);
        }
        assert.equal(msText(Number.NaN), "null");
    });
});
