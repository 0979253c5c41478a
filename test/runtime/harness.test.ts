/**
 * The Python model-server harness against the azureml-inference-server HTTP contract
 * (aml-v1-spec §5): real `python3 runtime/python/amlserver.py` processes on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
    FIXTURES,
    HARNESS,
    PYTHON,
    Proc,
    eventually,
    pidAlive,
    request,
    startHarness,
} from "./helpers";

describe("harness: scoring contract (echo.py)", { timeout: 60_000 }, () => {
    let proc: Proc;
    let url: string;
    before(async () => {
        ({ proc, url } = await startHarness("echo.py", {
            env: { AZUREML_MODEL_DIR: FIXTURES, SERVICE_NAME: "echo-svc" },
        }));
    });
    after(async () => {
        await proc.stop();
    });

    test("GET / answers 200 Healthy, and init() ran once before the port opened", async () => {
        const r = await request(`${url}/`);
        assert.equal(r.status, 200);
        assert.equal(r.body, "Healthy");
        const score = await request(`${url}/score`, { method: "POST", body: "{}" });
        assert.equal(JSON.parse(score.body).init_calls, 1);
    });

    test("POST /score passes the raw body as a JSON string and returns JSON", async () => {
        const body = '{"data": [[1, 2, 3]]}';
        const r = await request(`${url}/score`, {
            method: "POST",
            body,
            headers: { "content-type": "application/json", "x-test": "hello" },
        });
        assert.equal(r.status, 200);
        assert.match(String(r.headers["content-type"]), /application\/json/);
        const out = JSON.parse(r.body);
        assert.equal(out.raw, body, "run() gets the body string unchanged");
        assert.equal(out.x_test, "hello", "run(data, request_headers) receives the headers");
        assert.equal(out.service_name, "echo-svc");
        assert.equal(out.cwd, FIXTURES, "the source directory is the working directory");
        assert.equal(out.model_dir, FIXTURES);
        assert.match(String(r.headers["x-ms-run-fn-exec-ms"]), /^\d+\.\d{3}$/);
    });

    test("GET /score turns query parameters into a JSON object string (values parsed as JSON)", async () => {
        const r = await request(`${url}/score?a=1&b=%5B1%2C2%5D&c=text&d=null&c=again`);
        assert.equal(r.status, 200);
        assert.deepEqual(JSON.parse(JSON.parse(r.body).raw), {
            a: 1,
            b: [1, 2],
            c: ["text", "again"],
            d: null,
        });
    });

    test("a str returned by run() is sent as a JSON string", async () => {
        const r = await request(`${url}/score`, { method: "POST", body: '"return-a-string"' });
        assert.equal(r.status, 200);
        assert.equal(r.body, '"plain string"');
    });

    test("x-request-id is echoed, generated when absent, and over 100 chars gives 431", async () => {
        const given = await request(`${url}/score`, {
            method: "POST",
            body: "{}",
            headers: { "x-request-id": "req-42" },
        });
        assert.equal(given.headers["x-request-id"], "req-42");
        const generated = await request(`${url}/`);
        assert.match(String(generated.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
        const tooLong = await request(`${url}/score`, {
            method: "POST",
            body: "{}",
            headers: { "x-request-id": "x".repeat(101) },
        });
        assert.equal(tooLong.status, 431);
        assert.match(
            JSON.parse(tooLong.body).message,
            /x-request-id must not exceed 100 characters/,
        );
    });

    test("other methods: OPTIONS 200, PUT 405 with a JSON message, unknown path 404", async () => {
        assert.equal((await request(`${url}/score`, { method: "OPTIONS" })).status, 200);
        const put = await request(`${url}/score`, { method: "PUT", body: "{}" });
        assert.equal(put.status, 405);
        assert.deepEqual(JSON.parse(put.body), { message: "Method not allowed" });
        assert.equal((await request(`${url}/nope`)).status, 404);
    });

    test("a body that is not UTF-8 is a 400", async () => {
        const r = await request(`${url}/score`, {
            method: "POST",
            body: Buffer.from([0xff, 0xfe, 0x00]),
        });
        assert.equal(r.status, 400);
        assert.match(JSON.parse(r.body).message, /UTF-8/);
    });

    test("a chunked request body is read whole", async () => {
        const reply = await new Promise<string>((res, rej) => {
            const req = http.request(`${url}/score`, { method: "POST", agent: false }, (r) => {
                let b = "";
                r.setEncoding("utf8")
                    .on("data", (d: string) => (b += d))
                    .on("end", () => res(b));
            });
            req.on("error", rej);
            req.write('{"part": 1, ');
            req.end('"rest": true}');
        });
        assert.equal(JSON.parse(reply).raw, '{"part": 1, "rest": true}');
    });

    test("no swagger declared → /swagger.json is 404 with a message", async () => {
        const r = await request(`${url}/swagger.json`);
        assert.equal(r.status, 404);
        assert.match(JSON.parse(r.body).message, /declares no schema/);
    });
});

describe("harness: errors, timeout, swagger", { timeout: 60_000 }, () => {
    test("run() raising → 500, its message, x-ms-run-function-failed: True", async () => {
        const { proc, url } = await startHarness("raises.py");
        try {
            const r = await request(`${url}/score`, { method: "POST", body: "{}" });
            assert.equal(r.status, 500);
            assert.equal(r.headers["x-ms-run-function-failed"], "True");
            assert.match(
                JSON.parse(r.body).message,
                /ValueError: row 3 has 9 features, expected 10/,
            );
            // The traceback goes to stderr, for the operator.
            await proc.waitFor(/Traceback[\s\S]*ValueError: row 3/, 5000, "stderr");
            // The replica keeps serving after a failed run().
            assert.equal((await request(`${url}/`)).status, 200);
        } finally {
            await proc.stop();
        }
    });

    test("SCORING_TIMEOUT_MS → 500 'Scoring timeout after N ms', and the replica keeps serving", async () => {
        const { proc, url } = await startHarness("slow.py", { env: { SCORING_TIMEOUT_MS: "300" } });
        try {
            const started = Date.now();
            const r = await request(`${url}/score`, { method: "POST", body: '{"sleep": 3}' });
            assert.equal(r.status, 500);
            assert.equal(JSON.parse(r.body).message, "Scoring timeout after 300 ms");
            assert.equal(r.headers["x-ms-run-function-failed"], "True");
            assert.ok(
                Date.now() - started < 2500,
                "answered at the timeout, not after run() finished",
            );
            const ok = await request(`${url}/score`, { method: "POST", body: '{"sleep": 0}' });
            assert.equal(ok.status, 200);
        } finally {
            await proc.stop();
        }
    });

    test("input_sample/output_sample globals → swagger 2.0 and OpenAPI 3 documents", async () => {
        const { proc, url } = await startHarness("schema.py", { env: { SERVICE_NAME: "summer" } });
        try {
            const v2 = await request(`${url}/swagger.json`);
            assert.equal(v2.status, 200);
            const doc = JSON.parse(v2.body);
            assert.equal(doc.swagger, "2.0");
            assert.equal(doc.info.title, "summer");
            assert.ok(doc.paths["/score"].post);
            assert.deepEqual(doc.definitions.ServiceInput.example, { data: [[1.0, 2.0]] });
            assert.equal(doc.definitions.ServiceInput.properties.data.type, "array");
            assert.equal(doc.definitions.ServiceOutput.items.type, "number");
            const v3 = JSON.parse((await request(`${url}/swagger.json?version=3`)).body);
            assert.match(v3.openapi, /^3\./);
            assert.equal((await request(`${url}/swagger.json?version=9`)).status, 404);
            const scored = await request(`${url}/score`, {
                method: "POST",
                body: '{"data": [[1, 2], [3, 4.5]]}',
            });
            assert.deepEqual(JSON.parse(scored.body), [3, 7.5]);
        } finally {
            await proc.stop();
        }
    });
});

describe("harness: inference-schema decorated run()", { timeout: 60_000 }, () => {
    let proc: Proc;
    let url: string;
    before(async () => {
        // A stand-in package with inference-schema's schema_util API (see fixtures/fake_schema).
        ({ proc, url } = await startHarness("decorated.py", {
            env: { PYTHONPATH: join(FIXTURES, "fake_schema") },
        }));
    });
    after(async () => {
        await proc.stop();
    });

    test("a JSON body is parsed into run()'s keyword arguments, defaults apply", async () => {
        const json = { "content-type": "application/json" };
        const r = await request(`${url}/score`, {
            method: "POST",
            headers: json,
            body: '{"data": [[1, 2]], "scale": 10}',
        });
        assert.equal(r.status, 200, r.body);
        assert.deepEqual(JSON.parse(r.body), [30]);
        const d = await request(`${url}/score`, {
            method: "POST",
            headers: json,
            body: '{"data": [[1, 2]]}',
        });
        assert.deepEqual(JSON.parse(d.body), [3]);
    });

    test("bad input: 415 without a JSON content type, 400 for a missing argument or a non-object", async () => {
        const text = await request(`${url}/score`, {
            method: "POST",
            headers: { "content-type": "text/plain" },
            body: '{"data": []}',
        });
        assert.equal(text.status, 415);
        assert.equal(JSON.parse(text.body).message, "Expects Content-Type to be application/json");
        const json = { "content-type": "application/json" };
        const missing = await request(`${url}/score`, {
            method: "POST",
            headers: json,
            body: '{"scale": 2}',
        });
        assert.equal(missing.status, 400);
        assert.match(JSON.parse(missing.body).message, /'data' parameter/);
        const list = await request(`${url}/score`, { method: "POST", headers: json, body: "[1]" });
        assert.equal(list.status, 400);
        const broken = await request(`${url}/score`, {
            method: "POST",
            headers: json,
            body: "{nope",
        });
        assert.equal(broken.status, 400);
        assert.match(JSON.parse(broken.body).message, /could not be decoded as JSON/);
    });

    test("the decorators' schemas become the swagger definitions", async () => {
        const doc = JSON.parse((await request(`${url}/swagger.json`)).body);
        assert.equal(doc.definitions.ServiceInput.properties.scale.type, "number");
        assert.equal(doc.definitions.ServiceOutput.type, "array");
    });
});

describe("harness: process life cycle", { timeout: 60_000 }, () => {
    test("init() raising → traceback on stderr, exit code 3, port never opened", async () => {
        const proc = new Proc(PYTHON, [
            HARNESS,
            "--entry-script",
            "fail_init.py",
            "--source-dir",
            FIXTURES,
            "--port",
            "0",
        ]);
        const { code } = await proc.exited;
        assert.equal(code, 3);
        assert.match(
            proc.stderr,
            /Traceback[\s\S]*FileNotFoundError: sklearn_regression_model.pkl not found/,
        );
        assert.doesNotMatch(proc.stdout, /listening/);
    });

    test("bad usage (missing entry script) → exit code 2 with a message", async () => {
        const proc = new Proc(PYTHON, [
            HARNESS,
            "--entry-script",
            "missing.py",
            "--source-dir",
            FIXTURES,
        ]);
        const { code } = await proc.exited;
        assert.equal(code, 2);
        assert.match(proc.stderr, /missing\.py does not exist/);
    });

    test("SIGTERM: the request in flight finishes, then exit code 0", async () => {
        const { proc, url } = await startHarness("slow.py");
        const inFlight = request(`${url}/score`, { method: "POST", body: '{"sleep": 0.8}' });
        await new Promise((r) => setTimeout(r, 200));
        proc.child.kill("SIGTERM");
        const r = await inFlight;
        assert.equal(r.status, 200);
        assert.deepEqual(JSON.parse(r.body).slept, 0.8);
        const { code } = await proc.exited;
        assert.equal(code, 0);
    });

    test("--use-azmlinfsrv: always hands over to azmlinfsrv; auto keeps loopback on the harness", async () => {
        const bin = mkdtempSync(join(tmpdir(), "amlaks-fake-azmlinfsrv-"));
        try {
            writeFileSync(join(bin, "azmlinfsrv"), '#!/bin/sh\necho "fake azmlinfsrv $*"\n', {
                mode: 0o755,
            });
            const env = { PATH: `${bin}:${process.env.PATH ?? ""}` };
            const always = new Proc(
                PYTHON,
                [
                    HARNESS,
                    "--entry-script",
                    "echo.py",
                    "--source-dir",
                    FIXTURES,
                    "--port",
                    "5999",
                    "--use-azmlinfsrv",
                    "always",
                ],
                { env },
            );
            assert.equal((await always.exited).code, 0);
            assert.match(always.stdout, /fake azmlinfsrv --entry_script echo\.py --port 5999/);
            const { proc } = await startHarness("echo.py", {
                env,
                args: ["--use-azmlinfsrv", "auto"],
            });
            await proc.stop();
            assert.doesNotMatch(proc.stdout, /fake azmlinfsrv/);
        } finally {
            rmSync(bin, { recursive: true, force: true });
        }
    });

    test("AMLAKS_PARENT_PID: the harness exits when that process dies", async () => {
        const parent = spawn("sleep", ["60"], { stdio: "ignore" });
        const { proc } = await startHarness("echo.py", {
            env: { AMLAKS_PARENT_PID: String(parent.pid) },
        });
        try {
            assert.ok(pidAlive(proc.pid));
            parent.kill("SIGKILL");
            const { code } = await proc.exited;
            assert.equal(code, 0);
            assert.match(proc.stderr, /parent process \d+ is gone/);
        } finally {
            parent.kill("SIGKILL");
            await proc.stop("SIGKILL");
        }
    });

    test("AMLAKS_PARENT_PID with a stdin pipe: EOF on stdin (parent gone) ends the harness", async () => {
        const { proc } = await startHarness("echo.py", {
            env: { AMLAKS_PARENT_PID: String(process.pid) },
            stdin: "pipe",
        });
        try {
            assert.ok(await eventually(() => pidAlive(proc.pid), 1000));
            proc.child.stdin?.end();
            const { code } = await proc.exited;
            assert.equal(code, 0);
            assert.match(proc.stderr, /stdin closed/);
        } finally {
            await proc.stop("SIGKILL");
        }
    });
});
