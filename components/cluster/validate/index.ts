/**
 * Validation of {@link AksInferenceClusterArgs} (R9–R11; aml-v1-spec §2.1–§2.4): small checks,
 * one per concern, joined here. Pure and synchronous: values that are still unresolved
 * Outputs/Promises are skipped (their presence still counts for the "given together / exclusive"
 * rules). Every problem is collected and thrown together, before the component registers
 * anything; the result is the plan of the mode the args select, with every default applied.
 */
import type * as pulumi from "@pulumi/pulumi";
import { checkKnownArgs } from "../../common/known-args";
import { argBag, Problems } from "../../common/validation";
import { AKS_INFERENCE_CLUSTER_ARG_NAMES, AksInferenceClusterArgs } from "../args";
import { CLUSTER_DEFAULTS } from "../defaults";
import { NetworkChoice } from "../network-profile";
import { ClusterPurpose } from "../sizing";
import type { CheckContext } from "./context";
import { checkEndpoint } from "./endpoint";
import { checkGpu } from "./gpu";
import { checkMode } from "./mode";
import { checkNames } from "./names";
import { checkNetwork } from "./network";
import { checkRouterMetrics, type RouterMetricsChoice } from "./metrics";
import { checkRouter } from "./router";
import { checkSecurity } from "./security";
import { checkSizing } from "./sizing";
import { checkWorkspace, checkWorkspaceObject } from "./workspace";
import { checkRouterTelemetryArgs } from "../router-telemetry";
import { checkModelDataArgs } from "../model-data";

export type { ClusterMode } from "./context";
export { CREATE_ONLY_ARGS, NOT_IN_KUBECONFIG_MODE } from "./mode";
export { AKS_CLUSTER_NAME } from "./names";
export { COMPUTE_NAME } from "./workspace";

type Input<T> = pulumi.Input<T>;

/** The custom domain and certificate the router terminates TLS with (R6). */
export interface ClusterTls {
    readonly cname: Input<string>;
    readonly certPem: Input<string>;
    readonly keyPem: Input<string>;
}

/** Where the router image comes from: given, or built by the component into a registry. */
export type RouterImageSource =
    | { readonly kind: "given"; readonly imageRef: Input<string> }
    | {
          readonly kind: "build";
          readonly registryServer: Input<string>;
          readonly registryUsername: Input<string> | undefined;
          readonly registryPassword: Input<string> | undefined;
          readonly baseImage: string;
      };

/** What every mode resolves to: plain decisions, and the Inputs passed into resources. */
interface ResolvedCommon {
    readonly purpose: ClusterPurpose;
    readonly routerNamespace: string;
    readonly routerServiceType: string;
    readonly loadBalancerType: string;
    readonly networkPlugin: string;
    /** Plugin mode, policy engine and dataplane (create mode; see network-profile.ts). */
    readonly network: NetworkChoice;
    /** The router terminates TLS with this certificate; undefined for plain HTTP. */
    readonly tls: ClusterTls | undefined;
    /** DNS label of the HTTP endpoint `<label>.<region>.cloudapp.azure.com`. */
    readonly leafDomainLabel: Input<string> | undefined;
    readonly loadBalancerSubnet: Input<string> | undefined;
    readonly routerImage: RouterImageSource;
    /** Accelerators from `vmSize`; `undefined` when vmSize is an unresolved Output. */
    readonly gpu: boolean | undefined;
    readonly fpga: boolean | undefined;
    /** Install the NVIDIA plugin; `undefined` when it depends on an unresolved vmSize. */
    readonly installNvidiaDevicePlugin: boolean | undefined;
    readonly nvidiaDevicePluginImage: Input<string>;
    readonly disableLocalAccounts: boolean;
    readonly defenderEnabled: boolean;
    readonly containerInsightsEnabled: boolean;
    readonly azurePolicyEnabled: boolean;
    readonly grantDeployerClusterAdmin: boolean;
    readonly kubeloginMode: string;
    /** Declared or default node count; `undefined` when unknown (attach mode, Outputs). */
    readonly agentCount: number | undefined;
    /** Declared or default VM size; `undefined` when unknown (attach mode, Outputs). */
    readonly vmSize: string | undefined;
    readonly skuTier: string;
    /** Kubernetes version when given as a plain value (create mode). */
    readonly kubernetesVersion: string | undefined;
    /** Registry the kubelet identity gets AcrPull on (create and attach modes). */
    readonly containerRegistryId: Input<string> | undefined;
    /** Things that work but deserve the user's attention; the component logs them at preview. */
    readonly warnings: readonly string[];
    /** Namespaces of model services: `routerWatchNamespaces`, else [DEFAULT_SERVICE_NAMESPACE]. */
    readonly serviceNamespaces: readonly string[];
    /** The component creates DEFAULT_SERVICE_NAMESPACE (routerWatchNamespaces not given). */
    readonly createServiceNamespace: boolean;
    /** ServiceMonitor and metrics NetworkPolicy (validate/metrics.ts). */
    readonly routerMetrics: RouterMetricsChoice;
}

/** Create mode: a new AKS cluster. */
export interface ResolvedCreateArgs extends ResolvedCommon {
    readonly mode: "create";
    readonly location: Input<string>;
    readonly resourceGroupName: Input<string>;
    /** The system pool: node count and VM size, defaults applied (may be Outputs). */
    readonly nodeCount: Input<number>;
    readonly nodeVmSize: Input<string>;
}

/** Attach mode: an existing AKS cluster, read and never modified. */
export interface ResolvedAttachArgs extends ResolvedCommon {
    readonly mode: "attach";
    readonly resourceId: Input<string>;
    /** Region override; read from the cluster when undefined. */
    readonly location: Input<string> | undefined;
    /** Declared vCPUs per node, for the sizing warning. */
    readonly vmCpuCount: number | undefined;
}

/** Kubeconfig mode: any Kubernetes cluster, no Azure API. */
export interface ResolvedKubeconfigArgs extends ResolvedCommon {
    readonly mode: "kubeconfig";
    readonly kubeconfig: Input<string>;
    /** Only used for `requiredHosts`. */
    readonly location: Input<string> | undefined;
}

/** Validated args with defaults: one shape per mode. */
export type ResolvedClusterArgs = ResolvedCreateArgs | ResolvedAttachArgs | ResolvedKubeconfigArgs;

/**
 * Validates cluster args and returns the plan of their mode.
 * Throws one `ValidationError` ("Invalid AksInferenceCluster args: ...") listing every problem.
 */
export function validateAksInferenceClusterArgs(
    args: AksInferenceClusterArgs,
): ResolvedClusterArgs {
    const p = new Problems();
    const a = argBag(args);
    checkKnownArgs(p, args, AKS_INFERENCE_CLUSTER_ARG_NAMES);
    checkWorkspaceObject(p, a);
    const ctx: CheckContext = { a, p, warnings: [], mode: checkMode(p, a) };
    checkNames(ctx);
    const sizing = checkSizing(ctx);
    const network = checkNetwork(ctx);
    const endpoint = checkEndpoint(ctx);
    const router = checkRouter(ctx);
    const routerMetrics = checkRouterMetrics(ctx);
    checkRouterTelemetryArgs(p, a.appInsightsConnectionString);
    checkModelDataArgs(p, a, ctx.mode);
    checkWorkspace(ctx);
    const security = checkSecurity(ctx);
    const installPlugin = checkGpu(ctx);
    p.throwIfAny("AksInferenceCluster args");

    const { mode } = ctx;
    const common: ResolvedCommon = {
        purpose: sizing.purpose,
        routerNamespace: router.namespace,
        routerServiceType: endpoint.routerServiceType,
        loadBalancerType: endpoint.loadBalancerType,
        networkPlugin: network.networkPlugin,
        network,
        tls: endpoint.tls
            ? {
                  cname: validated(args.sslCname),
                  certPem: validated(args.sslCertPem),
                  keyPem: validated(args.sslKeyPem),
              }
            : undefined,
        leafDomainLabel: args.leafDomainLabel,
        loadBalancerSubnet: args.loadBalancerSubnet,
        routerImage:
            args.routerImage !== undefined
                ? { kind: "given", imageRef: args.routerImage }
                : {
                      kind: "build",
                      registryServer: validated(args.routerImageRegistry ?? args.acrLoginServer),
                      registryUsername: args.routerImageRegistryUsername,
                      registryPassword: args.routerImageRegistryPassword,
                      baseImage: args.routerBaseImage ?? CLUSTER_DEFAULTS.routerBaseImage,
                  },
        gpu: sizing.gpu,
        fpga: sizing.fpga,
        installNvidiaDevicePlugin: installPlugin ?? (mode === "create" ? sizing.gpu : false),
        nvidiaDevicePluginImage:
            args.nvidiaDevicePluginImage ?? CLUSTER_DEFAULTS.nvidiaDevicePluginImage,
        ...security,
        agentCount: sizing.agentCount,
        vmSize: sizing.vmSize,
        skuTier: sizing.skuTier,
        kubernetesVersion:
            typeof args.kubernetesVersion === "string" ? args.kubernetesVersion : undefined,
        containerRegistryId: args.containerRegistryId,
        warnings: ctx.warnings,
        serviceNamespaces: router.serviceNamespaces,
        createServiceNamespace: router.createServiceNamespace,
        routerMetrics,
    };
    switch (mode) {
        case "create":
            return {
                ...common,
                mode,
                location: validated(args.location),
                resourceGroupName: validated(args.resourceGroupName),
                nodeCount: args.agentCount ?? CLUSTER_DEFAULTS.agentCount,
                nodeVmSize: args.vmSize ?? CLUSTER_DEFAULTS.vmSize,
            };
        case "attach":
            return {
                ...common,
                mode,
                resourceId: validated(args.resourceId),
                location: args.location,
                vmCpuCount: sizing.vmCpuCount,
            };
        case "kubeconfig":
            return {
                ...common,
                mode,
                kubeconfig: validated(args.kubeconfig),
                location: args.location,
            };
    }
}

/** A value the checks above required; reaching `undefined` here is a bug in them. */
function validated<T>(v: T | null | undefined): T {
    if (v === undefined || v === null) {
        throw new Error("AksInferenceCluster validation: a required arg passed unchecked");
    }
    return v;
}
