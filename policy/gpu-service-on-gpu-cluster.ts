/**
 * R7, R9: a model service that asks for GPUs (or FPGAs) needs a cluster CREATED with a VM size that
 * has them; a GPU node pool added later is not supported. GPU/FPGA support of a VM size comes from
 * the cluster component's SKU rules (`detectAccelerators`).
 */
import { detectAccelerators } from "../components/cluster/sizing";
import { clusterLabel, nodePools, poolsUnknown } from "./lib/azure";
import { type ResourceView, stackPolicy } from "./lib/core";
import { clusterOf } from "./lib/graph";
import { isKind, isModelDeployment, refOf, settingsOf } from "./lib/k8s";
import { arr, at, bool, containsUnknown, isObject, num } from "./lib/values";
import type { StackValidationPolicy } from "@pulumi/policy/policy";

export const GPU_SERVICE_ON_GPU_CLUSTER = "gpu-service-on-gpu-cluster";

/** Accelerators a model Deployment asks for per replica. */
interface Ask {
    readonly gpu: number;
    readonly fpga: number;
}

/** GPUs/FPGAs in the containers' resources (`nvidia.com/gpu`, `*fpga*`) or a model's settings. */
function acceleratorsOf(dep: ResourceView): Ask | "unknown" {
    const containers = at(dep.props, "spec.template.spec.containers");
    if (containsUnknown(containers)) return "unknown";
    let gpu = 0;
    let fpga = 0;
    for (const c of arr(containers)) {
        const amounts = new Map<string, number>();
        for (const part of ["requests", "limits"]) {
            const res = at(c, `resources.${part}`);
            if (!isObject(res)) continue;
            for (const [k, v] of Object.entries(res)) {
                amounts.set(k, Math.max(amounts.get(k) ?? 0, num(v) ?? 0));
            }
        }
        for (const [k, v] of amounts) {
            if (/gpu$/i.test(k)) gpu += v;
            else if (/fpga/i.test(k)) fpga += v;
        }
    }
    const settings = settingsOf(dep);
    if (isObject(settings)) gpu = Math.max(gpu, num(settings.gpuCores) ?? 0);
    return { gpu, fpga };
}

export const gpuServiceOnGpuCluster: StackValidationPolicy = stackPolicy({
    name: GPU_SERVICE_ON_GPU_CLUSTER,
    description:
        "GPU and FPGA model services need a cluster created with a GPU/FPGA VM size; node pools added later are not supported (R9).",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Create the inference cluster with a GPU VM size (e.g. Standard_NC6s_v3) or an FPGA size (Standard_PB6s), or set gpuCores to 0 on the web service.",
    check(all, ctx) {
        // Model Deployments first of all (R9), but a GPU request on a cluster without GPUs never
        // schedules, whoever makes it: every Deployment is checked.
        for (const dep of all.filter((r) => isKind(r.type, "apps", "Deployment"))) {
            const label = `${isModelDeployment(dep) ? "Model Deployment" : "Deployment"} "${refOf(dep)}"`;
            const ask = acceleratorsOf(dep);
            if (ask === "unknown") {
                ctx.skip(`${label}: its container resources are unknown during preview`);
                continue;
            }
            const wants = (["gpu", "fpga"] as const).filter((k) => ask[k] > 0);
            if (wants.length === 0) continue;
            const link = clusterOf(dep, all);
            for (const kind of wants) {
                const what = `${ask[kind]} ${kind.toUpperCase()}(s) per replica`;
                const unit = kind.toUpperCase();
                if (link.managedCluster) {
                    const cluster = link.managedCluster;
                    const pools = nodePools(cluster, all);
                    if (poolsUnknown(cluster) || pools.some((p) => p.vmSize === undefined)) {
                        ctx.skip(`${label}: the VM size of ${clusterLabel(cluster)} is unknown`);
                        continue;
                    }
                    const has = (initial: boolean) =>
                        pools.filter(
                            (p) => p.initial === initial && detectAccelerators(p.vmSize!)[kind],
                        );
                    if (has(true).length > 0) continue;
                    const later = has(false);
                    const sizes = pools
                        .filter((p) => p.initial)
                        .map((p) => p.vmSize)
                        .join(", ");
                    ctx.violation(
                        dep,
                        later.length > 0
                            ? `${label} asks for ${what}, but ${clusterLabel(cluster)} has ${unit}s only in node pool(s) added after it was created (${later.map((p) => p.name).join(", ")}); ${unit} services need a cluster created with a ${unit} VM size (R9).`
                            : `${label} asks for ${what}, but ${clusterLabel(cluster)} was created with a VM size without ${unit}s (${sizes}) (R9). Create the cluster with a ${unit} VM size or remove the ${unit} request.`,
                    );
                } else if (link.component) {
                    const flag =
                        link.component.props[kind === "gpu" ? "gpuEnabled" : "fpgaEnabled"];
                    const enabled = bool(flag);
                    if (enabled === undefined) {
                        ctx.skip(`${label}: whether its cluster has ${unit}s is unknown`);
                    } else if (!enabled) {
                        ctx.violation(
                            dep,
                            `${label} asks for ${what}, but inference cluster "${link.component.name}" has no ${unit} nodes (${kind}Enabled is false) (R9). Use a cluster created with a ${unit} VM size or remove the ${unit} request.`,
                        );
                    }
                } else {
                    ctx.skip(`${label}: its cluster is not in this stack`);
                }
            }
        }
    },
});
