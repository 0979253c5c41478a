import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
    checkPurposeSizing,
    detectAccelerators,
    lookupVmSku,
    VM_SKUS,
} from "../../components/cluster/sizing";

describe("VM SKU table (R9, R10)", () => {
    test("knows the v1 default Standard_D3_v2 as 4 vCPUs, case-insensitively", () => {
        assert.deepEqual(lookupVmSku("Standard_D3_v2"), { vcpus: 4, gpus: 0, fpgas: 0 });
        assert.deepEqual(lookupVmSku("standard_d3_V2"), { vcpus: 4, gpus: 0, fpgas: 0 });
    });

    test("covers the requested families with plausible counts", () => {
        const expected: [string, number, number, number][] = [
            ["Standard_D4s_v3", 4, 0, 0],
            ["Standard_D8_v4", 8, 0, 0],
            ["Standard_D16ds_v5", 16, 0, 0],
            ["Standard_E8s_v3", 8, 0, 0],
            ["Standard_E104s_v5", 104, 0, 0],
            ["Standard_F72s_v2", 72, 0, 0],
            ["Standard_B2ms", 2, 0, 0],
            ["Standard_NC6", 6, 1, 0],
            ["Standard_NC24s_v3", 24, 4, 0],
            ["Standard_NC4as_T4_v3", 4, 1, 0],
            ["Standard_ND40rs_v2", 40, 8, 0],
            ["Standard_NV12s_v3", 12, 1, 0],
            ["Standard_NP10s", 10, 0, 1],
            ["Standard_PB6s", 6, 0, 1],
        ];
        for (const [sku, vcpus, gpus, fpgas] of expected) {
            assert.deepEqual(lookupVmSku(sku), { vcpus, gpus, fpgas }, sku);
        }
        for (const [sku, info] of VM_SKUS) {
            assert.ok(Number.isInteger(info.vcpus) && info.vcpus > 0, sku);
        }
    });

    test("detects GPU/FPGA from the table and from the N-series naming scheme", () => {
        assert.deepEqual(detectAccelerators("Standard_D3_v2"), { gpu: false, fpga: false });
        assert.deepEqual(detectAccelerators("Standard_NC6s_v3"), { gpu: true, fpga: false });
        assert.deepEqual(detectAccelerators("Standard_NP20s"), { gpu: false, fpga: true });
        // Not in the table: naming scheme.
        assert.deepEqual(detectAccelerators("Standard_NC40ads_H100_v5"), {
            gpu: true,
            fpga: false,
        });
        assert.deepEqual(detectAccelerators("Standard_ND96isr_H100_v5"), {
            gpu: true,
            fpga: false,
        });
        assert.deepEqual(detectAccelerators("Standard_PB12s"), { gpu: false, fpga: true });
        assert.deepEqual(detectAccelerators("Standard_L8s_v3"), { gpu: false, fpga: false });
    });
});

describe("purpose sizing (R10: the current v1 document's >= 3 nodes; vCPUs are advice)", () => {
    const clean = { problems: [], advice: [] };
    test("accepts the v1 default (3 x Standard_D3_v2 = 12 vCPUs) for FastProd and DenseProd", () => {
        assert.deepEqual(checkPurposeSizing("FastProd", "Standard_D3_v2", 3), clean);
        assert.deepEqual(checkPurposeSizing("DenseProd", "Standard_D3_v2", 3), clean);
    });

    test("rejects too few nodes even with enough vCPUs, naming the override", () => {
        const r = checkPurposeSizing("FastProd", "Standard_D8s_v3", 2);
        assert.deepEqual(r.advice, []);
        assert.equal(r.problems.length, 1);
        assert.equal(r.problems[0].field, "agentCount");
        assert.equal(r.problems[0].value, 2);
        assert.match(r.problems[0].rule, /^is below 3; FastProd needs at least 3 nodes/);
        assert.match(r.problems[0].rule, /allowUndersizedCluster: true/);
    });

    test("too few vCPUs with enough nodes is advice, not an error", () => {
        const r = checkPurposeSizing("DenseProd", "Standard_D2s_v3", 3);
        assert.deepEqual(r.problems, []);
        assert.deepEqual(r.advice, [
            "3 x Standard_D2s_v3 gives 6 vCPUs in total; v1 recommended at least 12 for DenseProd (the router and system pods take part of it).",
        ]);
    });

    test("DevTest: 1 node is fine; under 2 vCPUs is advice", () => {
        assert.deepEqual(checkPurposeSizing("DevTest", "Standard_B2s", 1), clean);
        assert.deepEqual(checkPurposeSizing("DevTest", "Standard_B1s", 2), clean);
        const r = checkPurposeSizing("DevTest", "Standard_B1ms", 1);
        assert.deepEqual(r.problems, []);
        assert.equal(r.advice.length, 1);
    });

    test("accepts an unknown SKU with a warning, and vmCpuCount overrides the table", () => {
        const r = checkPurposeSizing("FastProd", "Standard_X99_v9", 3);
        assert.deepEqual(r.problems, []);
        assert.equal(r.advice.length, 1);
        assert.match(r.advice[0], /not in the built-in SKU table.*set vmCpuCount/);
        assert.deepEqual(checkPurposeSizing("FastProd", "Standard_X99_v9", 3, 8), clean);
        assert.equal(checkPurposeSizing("FastProd", "Standard_D3_v2", 3, 2).advice.length, 1);
    });
});
