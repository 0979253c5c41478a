/**
 * `amlaks serve --otlp-endpoint <url>`: the local runtime exports requests as the cluster's
 * router does, to any OTLP/HTTP collector (here one on 127.0.0.1); a URL that is not one is a
 * usage error before anything starts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { eventually, request, runCli, startServe } from "../../runtime/helpers";
import { OtlpReceiver } from "./receivers";

const MODEL = join(__dirname, "fixtures", "model.py");

let work: string;
before(() => {
    work = realpathSync(mkdtempSync(join(tmpdir(), "amlaks-otlp-")));
});
after(() => rmSync(work, { recursive: true, force: true }));

describe("amlaks serve --otlp-endpoint", { timeout: 120_000 }, () => {
    test("requests of the served service reach the collector as request and dependency spans", async () => {
        const receiver = await new OtlpReceiver().start();
        const settings = join(work, "local.yaml");
        // enableAppInsights is not set: the flag is the local switch.
        writeFileSync(
            settings,
            "name: local-svc\nauthEnabled: false\nnumReplicas: 1\nautoscaleEnabled: false\n",
        );
        const svc = await startServe(
            ["--entry-script", MODEL, "--settings", settings, "--otlp-endpoint", receiver.url],
            { cwd: work },
        );
        try {
            assert.match(
                svc.proc.stdout,
                new RegExp(
                    `telemetry: +requests exported to ${receiver.url}/v1/traces \\(OTLP/HTTP\\)`,
                ),
            );
            const r = await request(svc.scoringUri, {
                method: "POST",
                headers: { "content-type": "application/json", "x-ms-request-id": "local-1" },
                body: JSON.stringify({ data: [[1, 2, 3]] }),
            });
            assert.equal(r.status, 200, r.body);
            assert.ok(
                await eventually(() => receiver.spans().length >= 2, 10_000),
                "spans within the 1 s batch delay",
            );
            const spans = receiver.spans();
            const server = spans.find((s) => s.kind === 2);
            const client = spans.find((s) => s.kind === 3);
            assert.equal(server?.resource["service.name"], "local-svc");
            assert.equal(server?.attributes["amlaks.request_id"], "local-1");
            assert.equal(server?.attributes["http.response.status_code"], 200);
            assert.match(String(server?.attributes["amlaks.replica"]), /^local-svc-\d+$/);
            assert.equal(client?.parentSpanId, server?.spanId);
            assert.ok(
                !receiver.allText.includes("[1, 2, 3]") && !receiver.allText.includes("sums"),
            );
        } finally {
            const { code } = await svc.proc.stop("SIGINT");
            assert.equal(code, 0);
            await receiver.close();
        }
    });

    test("a URL that is not an OTLP/HTTP endpoint: exit 2, the flag named, nothing started", async () => {
        const settings = join(work, "bad.yaml");
        writeFileSync(settings, "name: bad-svc\nauthEnabled: false\n");
        const r = await runCli(
            [
                "serve",
                "--entry-script",
                MODEL,
                "--settings",
                settings,
                "--otlp-endpoint",
                "127.0.0.1:4318",
            ],
            { cwd: work },
        );
        assert.equal(r.code, 2);
        assert.match(
            r.stderr,
            /--otlp-endpoint: "127\.0\.0\.1:4318" must be the http\(s\) URL of an OTLP\/HTTP collector/,
        );
        assert.doesNotMatch(r.stdout, /ready/);
    });
});
