/**
 * VM SKU facts and cluster-purpose sizing rules (R9, R10; aml-v1-spec §2.3). Pure: no Pulumi.
 *
 * Reading of the purpose rule ("FastProd/DenseProd: ≥ 12 vCPUs or ≥ 3 nodes"): the 2021 article
 * asks for ≥ 12 vCPUs in total, the current article for ≥ 3 nodes. We require BOTH. The v1 SDK
 * default (3 × Standard_D3_v2 = 12 vCPUs) satisfies both, so nothing the v1 defaults accepted is
 * rejected; three nodes are what the FastProd router needs to keep its 3 replicas on different
 * nodes (R18), and 12 vCPUs are the capacity the older rule asked for. A single big node (e.g.
 * 1 × D32) has the cores but no fault tolerance: use DevTest for that.
 */

/** What we know about one VM SKU. */
export interface VmSkuInfo {
    /** vCPUs per node. */
    readonly vcpus: number;
    /** NVIDIA GPUs per node (0 when none). */
    readonly gpus: number;
    /** FPGAs per node (0 when none). */
    readonly fpgas: number;
}

/** Cluster purposes (R10). `FastProd` is the v1 default (aml-v1-spec §2.1). */
export const CLUSTER_PURPOSES = ["DevTest", "FastProd", "DenseProd"] as const;
export type ClusterPurpose = (typeof CLUSTER_PURPOSES)[number];

/** Production purposes: ≥ this many vCPUs in total… */
export const PROD_MIN_TOTAL_VCPUS = 12;
/** …and ≥ this many nodes (see the module comment for why both). */
export const PROD_MIN_NODES = 3;
/** DevTest: ≥ 2 vCPUs in total (aml-v1-spec §2.3). */
export const DEVTEST_MIN_TOTAL_VCPUS = 2;

function series(
    names: readonly string[],
    vcpus: readonly number[],
    extra: { gpus?: readonly number[]; fpgas?: readonly number[] } = {},
): [string, VmSkuInfo][] {
    return names.map((n, i) => [
        n.toLowerCase(),
        { vcpus: vcpus[i], gpus: extra.gpus?.[i] ?? 0, fpgas: extra.fpgas?.[i] ?? 0 },
    ]);
}

const sizes = (pattern: string, counts: readonly number[]): string[] =>
    counts.map((c) => pattern.replace("#", String(c)));

/**
 * vCPU / GPU / FPGA counts of common AKS node SKUs (from the Azure VM size pages). Keys are
 * lowercase; look up with {@link lookupVmSku}. SKUs outside this table need `vmCpuCount`.
 */
export const VM_SKUS: ReadonlyMap<string, VmSkuInfo> = new Map<string, VmSkuInfo>([
    // Legacy D (v1 docs still show them) and Dv2 / DSv2, including the v1 default Standard_D3_v2.
    ...series(sizes("Standard_D#", [1, 2, 3, 4, 11, 12, 13, 14]), [1, 2, 4, 8, 2, 4, 8, 16]),
    ...series(
        sizes("Standard_D#_v2", [1, 2, 3, 4, 5, 11, 12, 13, 14, 15]),
        [1, 2, 4, 8, 16, 2, 4, 8, 16, 20],
    ),
    ...series(
        sizes("Standard_DS#_v2", [1, 2, 3, 4, 5, 11, 12, 13, 14, 15]),
        [1, 2, 4, 8, 16, 2, 4, 8, 16, 20],
    ),
    // Dv3/Dsv3, Dv4/Dsv4/Ddsv4, Dv5/Dsv5/Ddsv5/Dasv5: the number in the name is the vCPU count.
    ...(["Standard_D#_v3", "Standard_D#s_v3"] as const).flatMap((p) =>
        series(sizes(p, [2, 4, 8, 16, 32, 48, 64]), [2, 4, 8, 16, 32, 48, 64]),
    ),
    ...(["Standard_D#_v4", "Standard_D#s_v4", "Standard_D#ds_v4"] as const).flatMap((p) =>
        series(sizes(p, [2, 4, 8, 16, 32, 48, 64]), [2, 4, 8, 16, 32, 48, 64]),
    ),
    ...(
        ["Standard_D#_v5", "Standard_D#s_v5", "Standard_D#ds_v5", "Standard_D#as_v5"] as const
    ).flatMap((p) =>
        series(sizes(p, [2, 4, 8, 16, 32, 48, 64, 96]), [2, 4, 8, 16, 32, 48, 64, 96]),
    ),
    // Ev3/Esv3, Esv5 (memory optimised).
    ...(["Standard_E#_v3", "Standard_E#s_v3"] as const).flatMap((p) =>
        series(sizes(p, [2, 4, 8, 16, 20, 32, 48, 64]), [2, 4, 8, 16, 20, 32, 48, 64]),
    ),
    ...(["Standard_E#s_v5", "Standard_E#ds_v5"] as const).flatMap((p) =>
        series(
            sizes(p, [2, 4, 8, 16, 20, 32, 48, 64, 96, 104]),
            [2, 4, 8, 16, 20, 32, 48, 64, 96, 104],
        ),
    ),
    // Fsv2 (compute optimised).
    ...series(
        sizes("Standard_F#s_v2", [2, 4, 8, 16, 32, 48, 64, 72]),
        [2, 4, 8, 16, 32, 48, 64, 72],
    ),
    // B-series (burstable): fine for DevTest, weak for production.
    ...series(
        [
            "Standard_B1s",
            "Standard_B1ms",
            "Standard_B2s",
            "Standard_B2ms",
            "Standard_B4ms",
            "Standard_B8ms",
            "Standard_B12ms",
            "Standard_B16ms",
            "Standard_B20ms",
        ],
        [1, 1, 2, 2, 4, 8, 12, 16, 20],
    ),
    ...series(sizes("Standard_B#s_v2", [2, 4, 8, 16, 32]), [2, 4, 8, 16, 32]),
    ...series(sizes("Standard_B#as_v2", [2, 4, 8, 16, 32]), [2, 4, 8, 16, 32]),
    // NVIDIA GPU: NC (K80, legacy), NCv2, NCv3, NCasT4_v3, NC A100 v4, ND, NDv2, NDasr_v4, NV, NVv3.
    ...series(
        ["Standard_NC6", "Standard_NC12", "Standard_NC24", "Standard_NC24r"],
        [6, 12, 24, 24],
        {
            gpus: [1, 2, 4, 4],
        },
    ),
    ...series(
        ["Standard_NC6s_v2", "Standard_NC12s_v2", "Standard_NC24s_v2", "Standard_NC24rs_v2"],
        [6, 12, 24, 24],
        { gpus: [1, 2, 4, 4] },
    ),
    ...series(
        ["Standard_NC6s_v3", "Standard_NC12s_v3", "Standard_NC24s_v3", "Standard_NC24rs_v3"],
        [6, 12, 24, 24],
        { gpus: [1, 2, 4, 4] },
    ),
    ...series(
        [
            "Standard_NC4as_T4_v3",
            "Standard_NC8as_T4_v3",
            "Standard_NC16as_T4_v3",
            "Standard_NC64as_T4_v3",
        ],
        [4, 8, 16, 64],
        { gpus: [1, 1, 1, 4] },
    ),
    ...series(
        ["Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4", "Standard_NC96ads_A100_v4"],
        [24, 48, 96],
        { gpus: [1, 2, 4] },
    ),
    ...series(
        ["Standard_ND6s", "Standard_ND12s", "Standard_ND24s", "Standard_ND24rs"],
        [6, 12, 24, 24],
        {
            gpus: [1, 2, 4, 4],
        },
    ),
    ...series(["Standard_ND40rs_v2", "Standard_ND96asr_v4"], [40, 96], { gpus: [8, 8] }),
    ...series(["Standard_NV6", "Standard_NV12", "Standard_NV24"], [6, 12, 24], { gpus: [1, 2, 4] }),
    ...series(["Standard_NV12s_v3", "Standard_NV24s_v3", "Standard_NV48s_v3"], [12, 24, 48], {
        gpus: [1, 2, 4],
    }),
    // FPGA: NP (Xilinx U250) and the legacy Project Brainwave PB6 that v1 FPGA deployments used.
    ...series(["Standard_NP10s", "Standard_NP20s", "Standard_NP40s"], [10, 20, 40], {
        fpgas: [1, 2, 4],
    }),
    ...series(["Standard_PB6s"], [6], { fpgas: [1] }),
]);

/** Looks a SKU up case-insensitively (Azure treats VM size names case-insensitively). */
export function lookupVmSku(vmSize: string): VmSkuInfo | undefined {
    return VM_SKUS.get(vmSize.trim().toLowerCase());
}

/** Accelerator flags of a SKU (R9). */
export interface Accelerators {
    readonly gpu: boolean;
    readonly fpga: boolean;
}

/**
 * GPU/FPGA detection (R9): the table first, then the Azure naming scheme for SKUs not in it
 * (N-series `Standard_NC*`, `ND*`, `NV*`, `NG*` carry GPUs, `Standard_NP*` and `Standard_PB*`
 * carry FPGAs). NVv4 / NGads (AMD GPUs) count as GPU here, but the NVIDIA device plugin does not
 * serve them: declare a NVIDIA SKU or install the vendor plugin yourself.
 */
export function detectAccelerators(vmSize: string): Accelerators {
    const known = lookupVmSku(vmSize);
    if (known) return { gpu: known.gpus > 0, fpga: known.fpgas > 0 };
    const s = vmSize.trim().toLowerCase();
    return {
        gpu: /^standard_n[cdvg]/.test(s),
        fpga: /^standard_(np|pb)/.test(s),
    };
}

/** One broken sizing rule; the caller turns it into a validation problem. */
export interface SizingProblem {
    readonly field: "vmSize" | "agentCount" | "vmCpuCount";
    readonly value: unknown;
    readonly rule: string;
}

/**
 * Checks the purpose sizing rules (R10) for `agentCount` nodes of `vmSize`. `vmCpuCount`
 * overrides the table (required for SKUs not in it). Returns the broken rules, empty when fine.
 */
export function checkPurposeSizing(
    purpose: ClusterPurpose,
    vmSize: string,
    agentCount: number,
    vmCpuCount?: number,
): SizingProblem[] {
    const vcpus = vmCpuCount ?? lookupVmSku(vmSize)?.vcpus;
    if (vcpus === undefined) {
        return [
            {
                field: "vmSize",
                value: vmSize,
                rule:
                    "is not in the built-in SKU table (components/cluster/sizing.ts), so its vCPU count " +
                    `is unknown and the ${purpose} sizing rule cannot be checked; set vmCpuCount to the ` +
                    "SKU's vCPUs per node (see `az vm list-sizes --location <region>`)",
            },
        ];
    }
    const total = vcpus * agentCount;
    const out: SizingProblem[] = [];
    if (purpose === "DevTest") {
        if (total < DEVTEST_MIN_TOTAL_VCPUS) {
            out.push({
                field: "agentCount",
                value: agentCount,
                rule: `gives ${total} vCPUs in total (${agentCount} x ${vcpus} vCPUs of ${vmSize}); DevTest needs at least ${DEVTEST_MIN_TOTAL_VCPUS}`,
            });
        }
        return out;
    }
    if (agentCount < PROD_MIN_NODES) {
        out.push({
            field: "agentCount",
            value: agentCount,
            rule: `is below ${PROD_MIN_NODES}; ${purpose} needs at least ${PROD_MIN_NODES} nodes (use DevTest for smaller clusters)`,
        });
    }
    if (total < PROD_MIN_TOTAL_VCPUS) {
        out.push({
            field: "vmSize",
            value: vmSize,
            rule: `gives ${total} vCPUs in total (${agentCount} x ${vcpus} vCPUs); ${purpose} needs at least ${PROD_MIN_TOTAL_VCPUS} (choose a larger SKU or more nodes)`,
        });
    }
    return out;
}
