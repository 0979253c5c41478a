/**
 * NVIDIA device plugin for GPU clusters (R7, R9): without it, nodes do not advertise
 * `nvidia.com/gpu` and GPU model pods stay Pending. Rendered as the AKS GPU guide does it
 * (DaemonSet in kube-system). Pure render function; the cluster component creates it.
 *
 * Two installs may share a cluster (one router namespace each): the name and the pod selector
 * carry the router namespace, so their DaemonSets neither collide nor adopt each other's pods
 * (issue 11 item 9). Two plugins on one node are harmless: kubelet keeps the latest registration.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { CLUSTER_DEFAULTS } from "./defaults";

export const NVIDIA_DEVICE_PLUGIN_NAME = "nvidia-device-plugin-daemonset";

/** Name of the DaemonSet of the install whose router lives in `routerNamespace`. */
export function nvidiaDevicePluginName(routerNamespace: string): string {
    return `${NVIDIA_DEVICE_PLUGIN_NAME}-${routerNamespace}`.slice(0, 63).replace(/-+$/, "");
}

/** The plugin DaemonSet of the install whose router lives in `routerNamespace`. */
export function renderNvidiaDevicePlugin(
    image: pulumi.Input<string> = CLUSTER_DEFAULTS.nvidiaDevicePluginImage,
    routerNamespace = "azureml",
): k8s.types.input.apps.v1.DaemonSet {
    const labels = {
        name: "nvidia-device-plugin-ds",
        "amlaks.io/router-namespace": routerNamespace,
    };
    return {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        metadata: {
            name: nvidiaDevicePluginName(routerNamespace),
            namespace: "kube-system",
            labels: { ...labels, "app.kubernetes.io/managed-by": "pulumi" },
        },
        spec: {
            selector: { matchLabels: labels },
            updateStrategy: { type: "RollingUpdate" },
            template: {
                metadata: { labels },
                spec: {
                    priorityClassName: "system-node-critical",
                    nodeSelector: { "kubernetes.io/os": "linux" },
                    // GPU pools are often tainted; the plugin must still run there.
                    tolerations: [
                        { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
                        { key: "sku", operator: "Equal", value: "gpu", effect: "NoSchedule" },
                        { key: "CriticalAddonsOnly", operator: "Exists" },
                    ],
                    containers: [
                        {
                            name: "nvidia-device-plugin-ctr",
                            image,
                            env: [{ name: "FAIL_ON_INIT_ERROR", value: "false" }],
                            securityContext: {
                                allowPrivilegeEscalation: false,
                                capabilities: { drop: ["ALL"] },
                            },
                            resources: {
                                requests: { cpu: "10m", memory: "32Mi" },
                                limits: { memory: "128Mi" },
                            },
                            volumeMounts: [
                                {
                                    name: "device-plugin",
                                    mountPath: "/var/lib/kubelet/device-plugins",
                                },
                            ],
                        },
                    ],
                    volumes: [
                        {
                            name: "device-plugin",
                            hostPath: { path: "/var/lib/kubelet/device-plugins" },
                        },
                    ],
                },
            },
        },
    };
}
