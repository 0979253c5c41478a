/** Purpose, node count and VM size (R9, R10): the sizing rule and GPU/FPGA detection. */
import {
    checkBoolean,
    checkWholeNumber,
    isSet,
    isUnresolved,
    mustBePlain,
    named,
    NameRule,
    oneOf,
    plainValue,
    POSITIVE_WHOLE_NUMBER_RULE,
} from "../../common/validation";
import { CLUSTER_DEFAULTS } from "../defaults";
import {
    checkPurposeSizing,
    CLUSTER_PURPOSES,
    ClusterPurpose,
    detectAccelerators,
} from "../sizing";
import type { CheckContext } from "./context";
import { DECIDES_RESOURCES } from "./mode";

export const SKU_TIERS = ["Free", "Standard", "Premium"] as const;

export const VM_SIZE = {
    pattern: /^Standard_[A-Za-z0-9_]+$/i,
    rule: 'must be an Azure VM size name such as "Standard_D3_v2"',
} satisfies NameRule;

/** The nodes as far as they are known before deployment. */
export interface SizingPlan {
    readonly purpose: ClusterPurpose;
    readonly skuTier: string;
    /** Declared or default node count; `undefined` when unknown (attach mode, Outputs). */
    readonly agentCount: number | undefined;
    /** Declared or default VM size; `undefined` when unknown (attach mode, Outputs). */
    readonly vmSize: string | undefined;
    /** Declared vCPUs per node. */
    readonly vmCpuCount: number | undefined;
    /** Accelerators from `vmSize`; `undefined` when vmSize is an unresolved Output. */
    readonly gpu: boolean | undefined;
    readonly fpga: boolean | undefined;
}

export function checkSizing({ p, a, mode, warnings }: CheckContext): SizingPlan {
    const purpose =
        oneOf(p, "clusterPurpose", a.clusterPurpose, CLUSTER_PURPOSES) ??
        CLUSTER_DEFAULTS.clusterPurpose;
    const skuTier = oneOf(p, "skuTier", a.skuTier, SKU_TIERS) ?? CLUSTER_DEFAULTS.skuTier[purpose];
    mustBePlain(p, "skuTier", a.skuTier, "the tier is chosen from its value before deployment");

    const agentCountIn = checkWholeNumber(p, "agentCount", a.agentCount, 1, 1000);
    const agentCountOk = agentCountIn !== undefined || plainValue(a.agentCount) === undefined;
    const vmSizeOk = named(p, "vmSize", a.vmSize, VM_SIZE) || plainValue(a.vmSize) === undefined;
    const allowUndersized = checkBoolean(
        p,
        "allowUndersizedCluster",
        a.allowUndersizedCluster,
        CLUSTER_DEFAULTS.allowUndersizedCluster,
    );
    mustBePlain(p, "allowUndersizedCluster", a.allowUndersizedCluster, DECIDES_RESOURCES);
    const vmCpuIn = plainValue<unknown>(a.vmCpuCount);
    const vmCpuOk = vmCpuIn === undefined || (Number.isInteger(vmCpuIn) && (vmCpuIn as number) > 0);
    if (!vmCpuOk) p.add("vmCpuCount", vmCpuIn, POSITIVE_WHOLE_NUMBER_RULE);
    const vmCpuCount = vmCpuOk ? (vmCpuIn as number | undefined) : undefined;

    // Defaults apply when creating; in other modes only declared values are known.
    const creating = mode === "create";
    const vmSize = vmSizeOk
        ? creating && !isSet(a.vmSize)
            ? CLUSTER_DEFAULTS.vmSize
            : plainValue<string>(a.vmSize)
        : undefined;
    const agentCount =
        creating && !isSet(a.agentCount) ? CLUSTER_DEFAULTS.agentCount : agentCountIn;
    if (
        mode !== "attach" &&
        vmSize !== undefined &&
        agentCountOk &&
        vmCpuOk &&
        agentCount !== undefined
    ) {
        const report = checkPurposeSizing(purpose, vmSize, agentCount, vmCpuCount);
        for (const sp of report.problems) {
            if (allowUndersized) {
                warnings.push(`allowUndersizedCluster: ${sp.field} ${String(sp.value)} ${sp.rule}`);
            } else {
                p.add(sp.field, sp.value, sp.rule);
            }
        }
        warnings.push(...report.advice);
    }
    const acc = vmSize !== undefined ? detectAccelerators(vmSize) : undefined;
    if (acc?.fpga) {
        // v1's FPGA deployment (Project Brainwave, azureml-accel-models) is retired; we install
        // no FPGA device plugin and AksWebservice has no FPGA setting.
        warnings.push(
            `vmSize "${vmSize}" has FPGAs, but FPGA model services are not supported (v1's ` +
                "Project Brainwave deployment is retired): the nodes serve CPU models only.",
        );
    }
    const unresolvedVm = isUnresolved(a.vmSize);
    return {
        purpose,
        skuTier,
        agentCount,
        vmSize,
        vmCpuCount,
        gpu: unresolvedVm ? undefined : (acc?.gpu ?? false),
        fpga: unresolvedVm ? undefined : (acc?.fpga ?? false),
    };
}
