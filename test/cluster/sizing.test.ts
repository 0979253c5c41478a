import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    checkPurposeSizing,
    detectAccelerators,
    lookupVmSku,
    VM_SKUS,
} from "../../components/cluster/sizing";

describe("VM SKU table (R9, R10)", () => {
    it("knows the v1 default Standard_D3_v2 as 4 vCPUs, case-insensitively", () => {
        assert.deepEqual(lookupVmSku("Standard_D3_v2"), { vcpus: 4, gpus: 0, fpgas: 0 });
        assert.deepEqual(lookupVmSku("standard_d3_V2"), { vcpus: 4, gpus: 0, fpgas: 0 });
    });

    it("covers the requested families with plausible counts", () => {
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

    it("detects GPU/FPGA from the table and from the N-series naming scheme", () => {
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

describe("purpose sizing (R10; both >= 3 nodes and >= 12 vCPUs for production)", () => {
    it("accepts the v1 default (3 x Standard_D3_v2 = 12 vCPUs) for FastProd and DenseProd", () => {
        assert.deepEqual(checkPurposeSizing("FastProd", "Standard_D3_v2", 3), []);
        assert.deepEqual(checkPurposeSizing("DenseProd", "Standard_D3_v2", 3), []);
    });

    it("rejects too few nodes even with enough vCPUs", () => {
        assert.deepEqual(checkPurposeSizing("FastProd", "Standard_D16s_v3", 2), [
            {
                field: "agentCount",
                value: 2,
                rule: "is below 3; FastProd needs at least 3 nodes (use DevTest for smaller clusters)",
            },
        ]);
    });

    it("rejects too few vCPUs even with enough nodes", () => {
        assert.deepEqual(checkPurposeSizing("DenseProd", "Standard_D2s_v3", 3), [
            {
                field: "vmSize",
                value: "Standard_D2s_v3",
                rule: "gives 6 vCPUs in total (3 x 2 vCPUs); DenseProd needs at least 12 (choose a larger SKU or more nodes)",
            },
        ]);
    });

    it("DevTest needs 2 vCPUs in total", () => {
        assert.deepEqual(checkPurposeSizing("DevTest", "Standard_B2s", 1), []);
        assert.deepEqual(checkPurposeSizing("DevTest", "Standard_B1s", 2), []);
        assert.deepEqual(checkPurposeSizing("DevTest", "Standard_B1ms", 1), [
            {
                field: "agentCount",
                value: 1,
                rule: "gives 1 vCPUs in total (1 x 1 vCPUs of Standard_B1ms); DevTest needs at least 2",
            },
        ]);
    });

    it("says how to proceed for an unknown SKU, and vmCpuCount overrides the table", () => {
        const problems = checkPurposeSizing("FastProd", "Standard_X99_v9", 3);
        assert.equal(problems.length, 1);
        assert.equal(problems[0].field, "vmSize");
        assert.equal(
            problems[0].rule,
            "is not in the built-in SKU table (components/cluster/sizing.ts), so its vCPU count is unknown and the FastProd sizing rule cannot be checked; set vmCpuCount to the SKU's vCPUs per node (see `az vm list-sizes --location <region>`)",
        );
        assert.deepEqual(checkPurposeSizing("FastProd", "Standard_X99_v9", 3, 8), []);
        assert.equal(checkPurposeSizing("FastProd", "Standard_D3_v2", 3, 2).length, 1);
    });
});
