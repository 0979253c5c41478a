/**
 * VM SKU facts and cluster-purpose sizing rules (R9, R10; aml-v1-spec §2.3). Pure: no Pulumi.
 *
 * The purpose rule (R10; aml-v1-spec §2.3): v1's documents give "≥ 12 vCPUs in total" (2021
 * revision of "Deploy to AKS") and, in the current revision, "≥ 3 nodes" for FastProd, "≥ 1 node"
 * for DevTest. We follow the CURRENT document: FastProd/DenseProd need ≥ 3 nodes, which is also
 * what the router needs to keep its 3 replicas on different nodes (R18). The older vCPU figures
 * are advice (warnings), not errors, so an unknown VM size (vCPUs unknown) is accepted too. A
 * cluster below the rule passes with a warning when `allowUndersizedCluster` is set (e.g.
 * 2 × 8-vCPU nodes).
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

/** Production purposes: the older document's ≥ 12 vCPUs in total (advice only). */
export const PROD_MIN_TOTAL_VCPUS = 12;
/** Production purposes: ≥ this many nodes (the rule; current v1 document). */
export const PROD_MIN_NODES = 3;
/** DevTest: ≥ 2 vCPUs in total recommended (aml-v1-spec §2.3; advice only). */
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

/** The rule's verdict and the advice that does not block. */
export interface SizingReport {
    /** Broken rules: errors, or warnings with `allowUndersizedCluster`. */
    readonly problems: SizingProblem[];
    /** Warnings (vCPU count unknown, below the older vCPU figures). */
    readonly advice: string[];
}

/**
 * Checks the purpose sizing rule (R10; see the module comment) for `agentCount` nodes of
 * `vmSize`. `vmCpuCount` overrides the SKU table for the vCPU advice.
 */
export function checkPurposeSizing(
    purpose: ClusterPurpose,
    vmSize: string,
    agentCount: number,
    vmCpuCount?: number,
): SizingReport {
    const problems: SizingProblem[] = [];
    const advice: string[] = [];
    const prod = purpose !== "DevTest";
    if (prod && agentCount < PROD_MIN_NODES) {
        problems.push({
            field: "agentCount",
            value: agentCount,
            rule: `is below ${PROD_MIN_NODES}; ${purpose} needs at least ${PROD_MIN_NODES} nodes (R10, current v1 "Deploy to AKS" document) so the router's replicas sit on different nodes. Use DevTest, add nodes, or set allowUndersizedCluster: true to deploy anyway`,
        });
    }
    const vcpus = vmCpuCount ?? lookupVmSku(vmSize)?.vcpus;
    if (vcpus === undefined) {
        advice.push(
            `vmSize "${vmSize}" is not in the built-in SKU table (components/cluster/sizing.ts), so its vCPU ` +
                "count is unknown and the capacity advice is skipped; set vmCpuCount to silence this.",
        );
        return { problems, advice };
    }
    const total = vcpus * agentCount;
    const min = prod ? PROD_MIN_TOTAL_VCPUS : DEVTEST_MIN_TOTAL_VCPUS;
    if (total < min) {
        advice.push(
            `${agentCount} x ${vmSize} gives ${total} vCPUs in total; v1 recommended at least ${min} for ${purpose} ` +
                "(the router and system pods take part of it).",
        );
    }
    return { problems, advice };
}
