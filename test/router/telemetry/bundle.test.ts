/**
 * The router image runs one bundled file (scripts/bundle-router.mjs); the telemetry export
 * worker's script is that same file. Bundles the router as `npm run build` does, starts it as the
 * image does (`node router.js`, configured by the environment) and checks that a request's spans
 * reach a local OTLP collector through the worker.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { ReplicaServer } from "../../support/replica-server";
import { eventually, score } from "../core-harness";
import { OtlpReceiver } from "./receivers";

const ROOT = resolve(__dirname, "..", "..", "..");

async function freePort(): Promise<number> {
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
}

describe(
    "the bundled router (router image) exports through its worker",
    { timeout: 120_000 },
    () => {
        let dir: string;
        before(() => {
            dir = mkdtempSync(join(tmpdir(), "router-bundle-telemetry-"));
        });
        after(() => rmSync(dir, { recursive: true, force: true }));

        test("node router.js with OTEL_EXPORTER_OTLP_ENDPOINT: the request's spans arrive", async () => {
            const context = join(dir, "router-image");
            const built = spawnSync(
                process.execPath,
                [join(ROOT, "scripts", "bundle-router.mjs"), "--outdir", context],
                { cwd: ROOT, encoding: "utf8" },
            );
            assert.equal(built.status, 0, built.stderr);

            const receiver = await new OtlpReceiver().start();
            const replica = await ReplicaServer.start({ id: "r0" });
            const services = join(dir, "services.json");
            writeFileSync(
                services,
                JSON.stringify({
                    services: [
                        {
                            settings: {
                                name: "bundled",
                                authEnabled: false,
                                enableAppInsights: true,
                            },
                            replicas: [{ id: "r0", url: replica.url }],
                        },
                    ],
                }),
            );
            const port = await freePort();
            let output = "";
            // From an empty folder: the bundle needs nothing from the repository at run time.
            const router = spawn(process.execPath, [join(context, "router.js")], {
                cwd: dir,
                env: {
                    PATH: process.env.PATH,
                    ROUTER_HOST: "127.0.0.1",
                    ROUTER_HTTP_PORT: String(port),
                    ROUTER_SERVICES_FILE: services,
                    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
                },
                stdio: ["ignore", "pipe", "pipe"],
            });
            router.stdout.on("data", (d: Buffer) => (output += d.toString()));
            router.stderr.on("data", (d: Buffer) => (output += d.toString()));
            let gone = false;
            const exited = new Promise<number | null>((r) =>
                router.once("exit", (code) => {
                    gone = true;
                    r(code);
                }),
            );
            try {
                await eventually(
                    () => gone || output.includes("telemetry export on"),
                    60_000,
                    `router start\n${output}`,
                );
                assert.ok(!gone, `the bundled router exited at start:\n${output}`);
                const r = await score(`http://127.0.0.1:${port}`, "bundled", {
                    headers: { "x-ms-request-id": "bundle-1" },
                });
                assert.equal(r.status, 200);
                await eventually(() => receiver.spans().length >= 2, 30_000, `spans\n${output}`);
                const names = receiver
                    .spans()
                    .map((s) => [
                        s.name,
                        s.attributes["amlaks.request_id"],
                        s.resource["service.name"],
                    ])
                    .sort();
                assert.deepEqual(names, [
                    ["POST /api/v1/service/bundled/score", "bundle-1", "bundled"],
                    ["POST /score", "bundle-1", "bundled"],
                ]);
                assert.doesNotMatch(output, /worker failed/);
            } finally {
                router.kill("SIGTERM");
                assert.equal(await exited, 0, output);
                await replica.close();
                await receiver.close();
            }
        });
    },
);
