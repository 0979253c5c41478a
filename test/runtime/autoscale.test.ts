/**
 * Autoscaling for real (R2, R31–R33): `amlaks serve` with autoscale on; concurrent load makes
 * the replica count grow (within autoscaleMaxReplicas), quiet makes it shrink back to
 * autoscaleMinReplicas after --scale-down-delay, and no request fails on the way.
 */
import assert from "node:assert/strict";
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FIXTURES, eventually, request, startServe } from "./helpers";

let work: string;
before(() => {
    work = realpathSync(mkdtempSync(join(tmpdir(), "amlaks-autoscale-")));
});
after(() => rmSync(work, { recursive: true, force: true }));

async function readyReplicas(metricsUri: string): Promise<number> {
    const r = await request(metricsUri);
    const m = r.body.match(/amlaks_router_ready_replicas\{service="scaler"\} (\d+)/);
    return m ? Number(m[1]) : -1;
}

describe("autoscaling with the local backend", { timeout: 120_000 }, () => {
    test("load scales 1 → up to max, quiet scales back to min, no request fails", async () => {
        const settings = join(work, "scaler.yaml");
        writeFileSync(
            settings,
            [
                "name: scaler",
                "authEnabled: false",
                "autoscaleEnabled: true",
                "autoscaleMinReplicas: 1",
                "autoscaleMaxReplicas: 3",
                "autoscaleTargetUtilization: 70",
                "autoscaleRefreshSeconds: 1",
                // Requests may wait while replicas start: none must be turned away with 503.
                "maxRequestWaitTime: 20000",
                "scoringTimeoutMs: 20000",
            ].join("\n"),
        );
        const svc = await startServe(
            [
                "--entry-script",
                join(FIXTURES, "slow.py"),
                "--settings",
                settings,
                "--scale-down-delay",
                "2",
            ],
            { cwd: work },
        );
        try {
            assert.equal(await readyReplicas(svc.metricsUri), 1);

            // Load step: 6 clients in a loop, 0.25 s per request, for 4 s.
            const statuses: number[] = [];
            const seen: number[] = [];
            const until = Date.now() + 4000;
            const client = async (): Promise<void> => {
                while (Date.now() < until) {
                    const r = await request(svc.scoringUri, {
                        method: "POST",
                        body: '{"sleep": 0.25}',
                    });
                    statuses.push(r.status);
                }
            };
            const sampler = (async () => {
                while (Date.now() < until) {
                    seen.push(await readyReplicas(svc.metricsUri));
                    await new Promise((r) => setTimeout(r, 200));
                }
            })();
            await Promise.all([...Array.from({ length: 6 }, client), sampler]);

            assert.ok(statuses.length > 20, `served ${statuses.length} requests`);
            assert.deepEqual([...new Set(statuses)], [200], "no request failed while scaling");
            assert.match(svc.proc.stdout, /scale scaler 1 → [23] \(utilization \d+% > 70%\)/);
            assert.ok(Math.max(...seen) >= 2, `replicas grew under load (seen ${seen.join(",")})`);
            assert.ok(Math.max(...seen) <= 3, "never above autoscaleMaxReplicas");

            // Quiet: back to autoscaleMinReplicas after the scale-down delay.
            assert.ok(
                await eventually(
                    async () => (await readyReplicas(svc.metricsUri)) === 1,
                    20_000,
                    250,
                ),
                svc.proc.stdout,
            );
            assert.match(svc.proc.stdout, /scale scaler [23] → 1 \(utilization \d+% < 70%\)/);
            const after = await request(svc.scoringUri, { method: "POST", body: '{"sleep": 0}' });
            assert.equal(after.status, 200);
        } finally {
            const { code } = await svc.proc.stop("SIGINT");
            assert.equal(code, 0);
        }
    });
});
