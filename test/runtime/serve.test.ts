/**
 * `amlaks serve` end to end: the CLI as a child process, the router on 127.0.0.1, replicas as
 * real Python harness processes. What a user relies on: the sample's predictions, key auth,
 * the 100 MB limit, errors from the entry script, start-up failures, argument errors, and a
 * clean Ctrl-C.
 */
import assert from "node:assert/strict";
import {
    mkdtempSync,
    readFileSync,
    readdirSync,
    realpathSync,
    rmSync,
    statSync,
    writeFileSync,
} from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
    FIXTURES,
    HARNESS,
    PYTHON,
    ROOT,
    eventually,
    pidAlive,
    request,
    runCli,
    startServe,
} from "./helpers";
import { sweepStaleLayouts } from "../../runtime/models";
import { selfSignedCert } from "../support/tls";

const reference = JSON.parse(
    readFileSync(join(ROOT, "examples", "sample", "reference-predictions.json"), "utf8"),
) as {
    input: { data: number[][] };
    predictions: number[];
};

let work: string;
before(() => {
    work = realpathSync(mkdtempSync(join(tmpdir(), "amlaks-serve-")));
});
after(() => rmSync(work, { recursive: true, force: true }));

function writeSettings(name: string, body: string): string {
    const file = join(work, `${name}.yaml`);
    writeFileSync(file, body);
    return file;
}

describe("amlaks serve --sample", { timeout: 120_000 }, () => {
    let svc: Awaited<ReturnType<typeof startServe>>;
    let keys: { primaryKey: string; secondaryKey: string; service: string; scoringUri: string };
    before(async () => {
        svc = await startServe(["--sample"], { cwd: work });
        keys = JSON.parse(readFileSync(svc.keysFile, "utf8"));
    });
    after(async () => {
        await svc.proc.stop("SIGINT");
    });

    test("prints the scoring URI and writes generated keys to a 0600 file, not to stdout", () => {
        assert.match(
            svc.scoringUri,
            /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/service\/diabetes\/score$/,
        );
        assert.equal(svc.keysFile, join(work, ".amlaks", "diabetes", "keys.json"));
        assert.equal(statSync(svc.keysFile).mode & 0o777, 0o600);
        assert.equal(keys.service, "diabetes");
        assert.equal(keys.scoringUri, svc.scoringUri);
        assert.ok(keys.primaryKey.length >= 32 && keys.secondaryKey.length >= 32);
        assert.ok(
            !svc.proc.stdout.includes(keys.primaryKey),
            "stdout is not a terminal: keys stay in the file",
        );
        assert.ok(!svc.proc.stderr.includes(keys.primaryKey));
    });

    test("predictions equal scikit-learn's reference predictions (1e-9 relative)", async () => {
        const r = await request(svc.scoringUri, {
            method: "POST",
            headers: {
                authorization: `Bearer ${keys.primaryKey}`,
                "content-type": "application/json",
            },
            body: JSON.stringify(reference.input),
        });
        assert.equal(r.status, 200, r.body);
        const got = JSON.parse(r.body) as number[];
        assert.equal(got.length, reference.predictions.length);
        got.forEach((g, i) => {
            const want = reference.predictions[i];
            assert.ok(Math.abs(g - want) <= 1e-9 * Math.abs(want), `row ${i}: ${g} vs ${want}`);
        });
    });

    test("the secondary key works too; no key or a wrong key → 401", async () => {
        const body = JSON.stringify({ data: [reference.input.data[0]] });
        const second = await request(svc.scoringUri, {
            method: "POST",
            headers: { authorization: `Bearer ${keys.secondaryKey}` },
            body,
        });
        assert.equal(second.status, 200);
        const none = await request(svc.scoringUri, { method: "POST", body });
        assert.equal(none.status, 401);
        assert.match(String(none.headers["www-authenticate"]), /^Bearer/);
        const wrong = await request(svc.scoringUri, {
            method: "POST",
            headers: { authorization: "Bearer not-the-key" },
            body,
        });
        assert.equal(wrong.status, 401);
    });

    test("swagger.json is served through the router", async () => {
        const r = await request(svc.swaggerUri, {
            headers: { authorization: `Bearer ${keys.primaryKey}` },
        });
        assert.equal(r.status, 200);
        const doc = JSON.parse(r.body);
        assert.equal(doc.swagger, "2.0");
        assert.equal(doc.info.title, "diabetes");
    });

    test("a body above 100 MB is refused with 413 (streamed, never buffered)", async () => {
        const status = await new Promise<number>((resolve, reject) => {
            const req = http.request(svc.scoringUri, {
                method: "POST",
                agent: false,
                headers: {
                    authorization: `Bearer ${keys.primaryKey}`,
                    "content-type": "application/json",
                    "content-length": String(100 * 1024 * 1024 + 1),
                },
            });
            req.on("response", (res) => {
                resolve(res.statusCode ?? 0);
                res.resume();
                req.destroy();
            });
            req.on("error", (e) => reject(e));
            // A few chunks only; the router must answer from Content-Length, not wait for 100 MB.
            const chunk = Buffer.alloc(64 * 1024, 0x20);
            let sent = 0;
            const pump = (): void => {
                while (sent < 16 && req.write(chunk)) sent++;
            };
            req.on("drain", pump);
            pump();
        });
        assert.equal(status, 413);
        // The service still answers afterwards.
        const ok = await request(svc.scoringUri, {
            method: "POST",
            headers: { authorization: `Bearer ${keys.primaryKey}` },
            body: JSON.stringify({ data: [reference.input.data[0]] }),
        });
        assert.equal(ok.status, 200);
    });

    test("/metrics reports the ready replicas", async () => {
        const r = await request(svc.metricsUri);
        assert.equal(r.status, 200);
        assert.match(r.body, /amlaks_router_ready_replicas\{service="diabetes"\} 1/);
    });
});

describe("amlaks serve with a user's entry script", { timeout: 120_000 }, () => {
    test("run() raising → 500 with its message through the router", async () => {
        const settings = writeSettings(
            "raiser",
            "name: raiser\nprimaryKey: test-primary-key-0123456789abcdefghij\nsecondaryKey: test-secondary-key-0123456789abcdefghij\nnumReplicas: 1\nautoscaleEnabled: false\n",
        );
        const svc = await startServe(
            ["--entry-script", join(FIXTURES, "raises.py"), "--settings", settings],
            { cwd: work },
        );
        try {
            const r = await request(svc.scoringUri, {
                method: "POST",
                headers: { authorization: "Bearer test-primary-key-0123456789abcdefghij" },
                body: "{}",
            });
            assert.equal(r.status, 500);
            assert.match(
                JSON.parse(r.body).message,
                /ValueError: row 3 has 9 features, expected 10/,
            );
            assert.equal(r.headers["x-ms-run-function-failed"], "True");
            // The replica's traceback reaches the CLI output, prefixed with the replica id.
            await svc.proc.waitFor(/\[raiser-1\] .*ValueError: row 3/, 5000, "stdout");
        } finally {
            const { code } = await svc.proc.stop("SIGINT");
            assert.equal(code, 0);
        }
    });

    test("models are laid out under AZUREML_MODEL_DIR and GET /score passes query parameters", async () => {
        const settings = writeSettings("echoer", "name: echoer\nauthEnabled: false\n");
        const svc = await startServe(
            [
                "--entry-script",
                join(FIXTURES, "echo.py"),
                "--settings",
                settings,
                "--model",
                join(ROOT, "examples", "sample", "model", "sklearn_regression_model.json"),
                "--model",
                join(FIXTURES, "schema.py"),
            ],
            { cwd: work },
        );
        try {
            const r = await request(`${svc.scoringUri}?x=1`);
            assert.equal(r.status, 200, r.body);
            const out = JSON.parse(r.body);
            assert.deepEqual(JSON.parse(out.raw), { x: 1 });
            assert.deepEqual(
                out.model_files,
                ["schema", "sklearn_regression_model"],
                "several models: <name>/<version>/...",
            );
            assert.equal(out.cwd, FIXTURES);
            assert.equal(out.service_name, "echoer");
        } finally {
            await svc.proc.stop("SIGINT");
        }
    });

    test("init() failing → the CLI reports the error with the replica's stderr and exits 3", async () => {
        const settings = writeSettings("broken", "name: broken\nauthEnabled: false\n");
        const r = await runCli(
            [
                "serve",
                "--port",
                "0",
                "--entry-script",
                join(FIXTURES, "fail_init.py"),
                "--settings",
                settings,
            ],
            { cwd: work },
        );
        assert.equal(r.code, 3);
        assert.match(r.stderr, /the model failed to start: replica broken-1 exited with code 3/);
        assert.match(r.stderr, /FileNotFoundError: sklearn_regression_model\.pkl not found/);
        assert.doesNotMatch(r.stdout, /is ready/);
    });

    test("bad flags and files → exit 2 and one message naming every problem, nothing started", async () => {
        const r = await runCli(
            [
                "serve",
                "--entry-script",
                "missing.py",
                "--settings",
                "nowhere.yaml",
                "--port",
                "99999",
                "--tls-cert",
                "c.pem",
                "--frobnicate",
            ],
            { cwd: work },
        );
        assert.equal(r.code, 2);
        assert.match(r.stderr, /--entry-script: "missing\.py" is not an existing file/);
        assert.match(r.stderr, /--settings: "nowhere\.yaml" is not an existing file/);
        assert.match(r.stderr, /--port: "99999" must be a whole number from 0 to 65535/);
        assert.match(r.stderr, /--tls-key: \(unset\) is required with --tls-cert/);
        assert.match(r.stderr, /--frobnicate: \(unset\) is not a flag/);
        assert.equal(r.stdout, "");
    });

    test("--help documents every flag; --version prints the package version", async () => {
        const help = await runCli(["serve", "--help"]);
        assert.equal(help.code, 0);
        for (const flag of [
            "--entry-script",
            "--source-dir",
            "--model",
            "--settings",
            "--host",
            "--port",
            "--tls-cert",
            "--tls-key",
            "--replica-command",
            "--server",
            "--keys-file",
            "--scale-down-delay",
            "--sample",
            "--python",
            "--access-log",
            "--collect-model-data",
            "--model-data-scope",
        ]) {
            assert.ok(help.stdout.includes(flag), `help mentions ${flag}`);
        }
        const version = await runCli(["--version"]);
        assert.equal(
            version.stdout.trim(),
            JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version,
        );
    });

    test("Ctrl-C (SIGINT): exit 0, every replica process gone, model layout removed", async () => {
        const settings = writeSettings(
            "stopper",
            "name: stopper\nauthEnabled: false\nautoscaleEnabled: false\nnumReplicas: 2\n",
        );
        const svc = await startServe(
            [
                "--entry-script",
                join(FIXTURES, "slow.py"),
                "--settings",
                settings,
                "--model",
                join(FIXTURES, "schema.py"),
            ],
            { cwd: work },
        );
        assert.ok(
            await eventually(() => /\(2\/2 ready\)/.test(svc.proc.stdout), 20_000),
            svc.proc.stdout,
        );
        const pids = [...svc.proc.stdout.matchAll(/replica stopper-\d+ starting \(pid (\d+)/g)].map(
            (m) => Number(m[1]),
        );
        assert.equal(pids.length, 2);
        assert.ok(pids.every(pidAlive));
        const layouts = (): string[] =>
            readdirSync(tmpdir()).filter((d) => d.startsWith(`amlaks-models-${svc.proc.pid}-`));
        assert.equal(layouts().length, 1);
        // A request in flight when Ctrl-C arrives still gets its answer.
        const inFlight = request(svc.scoringUri, { method: "POST", body: '{"sleep": 0.7}' });
        await new Promise((r) => setTimeout(r, 200));
        const { code } = await svc.proc.stop("SIGINT");
        assert.equal(code, 0);
        assert.equal((await inFlight).status, 200);
        assert.match(svc.proc.stdout, /stopped in/);
        assert.ok(
            await eventually(() => !pids.some(pidAlive), 5000),
            "no replica outlives the CLI",
        );
        assert.deepEqual(layouts(), []);
    });
});

describe("amlaks serve: parent killed hard", { timeout: 60_000 }, () => {
    test("SIGKILL of the CLI: replicas notice and exit (no orphans)", async () => {
        const settings = writeSettings("orphan", "name: orphan\nauthEnabled: false\n");
        const svc = await startServe(
            ["--entry-script", join(FIXTURES, "echo.py"), "--settings", settings],
            { cwd: work },
        );
        const pid = Number(
            (await svc.proc.waitFor(/replica orphan-1 starting \(pid (\d+)/, 1000, "stdout"))[1],
        );
        assert.ok(pidAlive(pid));
        const layout = `amlaks-models-${svc.proc.pid}-`;
        await svc.proc.stop("SIGKILL");
        assert.ok(
            await eventually(() => !pidAlive(pid), 5000),
            "the replica exits when its parent is gone",
        );
        // No exit hook runs on SIGKILL: the next start sweeps the model layout left behind.
        assert.equal(readdirSync(tmpdir()).filter((d) => d.startsWith(layout)).length, 1);
        assert.ok(sweepStaleLayouts().some((d) => d.startsWith(layout)));
        assert.equal(readdirSync(tmpdir()).filter((d) => d.startsWith(layout)).length, 0);
    });
});

describe("amlaks serve: token auth, TLS, custom replica command", { timeout: 120_000 }, () => {
    test("token auth: `amlaks token` mints a token the service accepts; a tampered one gets 401", async () => {
        const settings = writeSettings("tokened", "name: tokened\ntokenAuthEnabled: true\n");
        const svc = await startServe(
            ["--entry-script", join(FIXTURES, "echo.py"), "--settings", settings],
            { cwd: work },
        );
        try {
            const keysFile = join(work, ".amlaks", "tokened", "keys.json");
            assert.match(svc.proc.stdout, /get a token: amlaks token --keys-file/);
            assert.equal(statSync(keysFile).mode & 0o777, 0o600);
            const minted = await runCli(["token", "--keys-file", keysFile], { cwd: work });
            assert.equal(minted.code, 0, minted.stderr);
            const token = JSON.parse(minted.stdout) as {
                accessToken: string;
                refreshAfter: number;
                expiryOn: number;
            };
            assert.ok(token.refreshAfter < token.expiryOn);
            const ok = await request(svc.scoringUri, {
                method: "POST",
                headers: { authorization: `Bearer ${token.accessToken}` },
                body: "{}",
            });
            assert.equal(ok.status, 200);
            const tampered = await request(svc.scoringUri, {
                method: "POST",
                headers: { authorization: `Bearer ${token.accessToken.slice(0, -4)}AAAA` },
                body: "{}",
            });
            assert.equal(tampered.status, 401);
        } finally {
            await svc.proc.stop("SIGINT");
        }
    });

    test("--tls-cert/--tls-key: the scoring URI is HTTPS", async () => {
        selfSignedCert({ dir: work });
        const settings = writeSettings("secure", "name: secure\nauthEnabled: false\n");
        const svc = await startServe(
            [
                "--entry-script",
                join(FIXTURES, "echo.py"),
                "--settings",
                settings,
                "--tls-cert",
                "tls.crt",
                "--tls-key",
                "tls.key",
            ],
            { cwd: work },
        );
        try {
            assert.match(svc.scoringUri, /^https:\/\/127\.0\.0\.1:\d+\//);
            const body = await new Promise<string>((resolve, reject) => {
                const req = https.request(
                    svc.scoringUri,
                    { method: "POST", ca: readFileSync(join(work, "tls.crt")), agent: false },
                    (res) => {
                        let b = "";
                        res.setEncoding("utf8")
                            .on("data", (d: string) => (b += d))
                            .on("end", () => resolve(b));
                    },
                );
                req.on("error", reject);
                req.end('{"secure": true}');
            });
            assert.equal(JSON.parse(body).raw, '{"secure": true}');
        } finally {
            await svc.proc.stop("SIGINT");
        }
    });

    test("--replica-command runs a custom model server with SERVER_PORT and the AZUREML_* variables", async () => {
        const settings = writeSettings("custom", "name: custom\nauthEnabled: false\n");
        const svc = await startServe(
            [
                "--entry-script",
                join(FIXTURES, "echo.py"),
                "--settings",
                settings,
                "--replica-command",
                `${PYTHON} ${HARNESS}`,
            ],
            { cwd: work },
        );
        try {
            assert.match(svc.proc.stdout, /custom replica command/);
            const r = await request(svc.scoringUri, { method: "POST", body: "{}" });
            assert.equal(r.status, 200);
            assert.equal(JSON.parse(r.body).service_name, "custom");
        } finally {
            await svc.proc.stop("SIGINT");
        }
    });
});
