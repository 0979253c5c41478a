/**
 * Issue 15 in the local runtime, with real processes on 127.0.0.1: a keys file that cannot be
 * written is refused before anything listens; the keys file is reloaded at run time (rotation,
 * R36) and a bad one keeps the current keys; the Python harness reports run() calls abandoned
 * after the scoring timeout in its health, and the local backend recycles a replica whose
 * abandoned calls pile up.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { validateWebserviceSettings } from "../../components/settings";
import { LocalBackend } from "../../router/backends/local";
import { RecordingListener, waitFor } from "../router/local-backend-helpers";
import {
    FIXTURES,
    HARNESS,
    PYTHON,
    eventually,
    pidAlive,
    request,
    runCli,
    startHarness,
    startServe,
    type Proc,
} from "./helpers";

const work = mkdtempSync(join(tmpdir(), "amlaks-hardening-"));
const procs: Proc[] = [];
after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(work, { recursive: true, force: true });
});

const score = (url: string, key: string): Promise<number> =>
    request(url, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({
            data: [[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0, 0.02, -0.01]],
        }),
    }).then((r) => r.status);

describe("issue 15: local runtime", { timeout: 120_000 }, () => {
    test("a --keys-file that cannot be created is a usage error before anything listens", async () => {
        // Under /proc, mkdir(recursive) used to spin at 100% CPU after the listener was up.
        const res = await runCli(
            ["serve", "--sample", "--port", "0", "--keys-file", "/proc/amlaks-nowhere/keys.json"],
            { cwd: work },
        );
        assert.equal(res.code, 2, res.stderr);
        assert.match(
            res.stderr,
            /--keys-file: "\/proc\/amlaks-nowhere\/keys\.json" cannot be written/,
        );
        assert.doesNotMatch(res.stdout, /scoring URI|starting/);
    });

    test("weak keys in a reused keys file are refused at start, without echoing them", async () => {
        const keysFile = join(work, "weak", "keys.json");
        mkdirSync(join(work, "weak"));
        writeFileSync(
            keysFile,
            JSON.stringify({
                format: "amlaks-keys/v1",
                service: "diabetes",
                authMode: "key",
                primaryKey: "weakkey",
                secondaryKey: "weakkey",
            }),
        );
        const res = await runCli(["serve", "--sample", "--port", "0", "--keys-file", keysFile], {
            cwd: work,
        });
        assert.equal(res.code, 2, res.stderr);
        assert.match(res.stderr, /primaryKey .* must be 32-256 printable ASCII/);
        assert.match(res.stderr, /secondaryKey .* must differ from primaryKey/);
        assert.doesNotMatch(res.stderr + res.stdout, /weakkey/);
        assert.doesNotMatch(res.stdout, /scoring URI/);
    });

    test("the keys file is reloaded at run time; a bad one keeps the current keys", async () => {
        const keysFile = join(work, "rotating", "keys.json");
        const svc = await startServe(["--sample", "--keys-file", keysFile], { cwd: work });
        procs.push(svc.proc);
        const first = JSON.parse(readFileSync(keysFile, "utf8")) as Record<string, string>;
        assert.equal(await score(svc.scoringUri, first.primaryKey), 200);

        const write = (content: object): void => {
            const tmp = `${keysFile}.tmp`;
            writeFileSync(tmp, JSON.stringify(content), { mode: 0o600 });
            renameSync(tmp, keysFile);
        };
        const rotated = randomBytes(32).toString("base64url");
        write({ ...first, primaryKey: rotated });
        assert.ok(
            await eventually(async () => (await score(svc.scoringUri, rotated)) === 200, 10_000),
            "the new primary key is accepted",
        );
        assert.equal(await score(svc.scoringUri, first.primaryKey), 401, "the old one is not");
        assert.equal(await score(svc.scoringUri, first.secondaryKey), 200);

        // Too short, and the two keys equal: refused, logged without the keys, nothing changes.
        write({ ...first, primaryKey: "short", secondaryKey: "short" });
        await svc.proc.waitFor(/keys file .* not applied/, 10_000, "stderr");
        assert.doesNotMatch(svc.proc.stderr, /"short"|: short\b/);
        assert.equal(await score(svc.scoringUri, rotated), 200);
        write({ not: "json" });
        assert.equal(await score(svc.scoringUri, rotated), 200);
        await svc.proc.stop("SIGTERM");
    });

    test("the harness reports abandoned run() calls in GET / and turns unhealthy at the limit", async () => {
        const { proc, url } = await startHarness("slow.py", {
            env: {
                SCORING_TIMEOUT_MS: "200",
                WORKER_COUNT: "2",
                AMLSERVER_MAX_ABANDONED_RUNS: "2",
            },
        });
        procs.push(proc);
        const health = (): Promise<{ status: number; abandoned: unknown }> =>
            request(`${url}/`).then((r) => ({
                status: r.status,
                abandoned: r.headers["x-amlserver-abandoned-runs"],
            }));
        assert.deepEqual(await health(), { status: 200, abandoned: "0" });
        const slow = { method: "POST", body: JSON.stringify({ sleep: 30 }) };
        const timedOut = await request(`${url}/score`, slow);
        assert.equal(timedOut.status, 500);
        assert.match(timedOut.body, /Scoring timeout after 200 ms/);
        assert.deepEqual(await health(), { status: 200, abandoned: "1" });
        assert.equal((await request(`${url}/score`, slow)).status, 500);
        const sick = await request(`${url}/`);
        assert.equal(sick.status, 503);
        assert.equal(sick.headers["x-amlserver-abandoned-runs"], "2");
        assert.match(sick.body, /2 run\(\) calls abandoned/);
    });

    test("the local backend recycles a replica whose liveness probe fails (abandoned runs)", async () => {
        const settings = validateWebserviceSettings({
            name: "recycled",
            authEnabled: false,
            autoscaleEnabled: false,
            numReplicas: 1,
            periodSeconds: 1,
            timeoutSeconds: 1,
            failureThreshold: 2,
        });
        const backend = new LocalBackend({
            services: [
                {
                    definition: { name: "recycled", settings, auth: { mode: "none" } },
                    command: [PYTHON, HARNESS],
                    env: {
                        AZUREML_ENTRY_SCRIPT: "slow.py",
                        AZUREML_SOURCE_DIRECTORY: FIXTURES,
                        SCORING_TIMEOUT_MS: "200",
                        AMLSERVER_MAX_ABANDONED_RUNS: "1",
                        PYTHONDONTWRITEBYTECODE: "1",
                    },
                    cwd: FIXTURES,
                    readinessTimeoutMs: 20_000,
                },
            ],
            restartBackoffMs: 100,
        });
        const listener = new RecordingListener();
        try {
            await backend.start(listener);
            await backend.firstReady("recycled");
            const [first] = backend.replicas("recycled");
            const status = await request(`${first.url}/score`, {
                method: "POST",
                body: JSON.stringify({ sleep: 60 }),
            });
            assert.equal(status.status, 500, "run() timed out and was abandoned");
            const next = await waitFor(
                () =>
                    backend
                        .replicas("recycled")
                        .find((r) => r.id !== first.id && r.state === "ready"),
                "a replacement replica",
                30_000,
            );
            assert.notEqual(next.pid, first.pid);
            assert.ok(
                await eventually(() => !pidAlive(first.pid as number), 15_000),
                "the sick replica is gone",
            );
            assert.deepEqual(
                listener.ready("recycled").map((r) => r.id),
                [next.id],
            );
        } finally {
            await backend.stop();
        }
    });
});
