/**
 * Public API of @amlaks/pulumi-aml-aks: the Pulumi components, the shared web-service vocabulary,
 * the router (azureml-fe equivalent) and its auth, autoscaler and local backend.
 */
export * from "./components/common/validation";
export * from "./components/settings";

export { AmlWorkspace } from "./components/workspace";
export type { AmlWorkspaceArgs } from "./components/workspace";
export { validateAmlWorkspaceArgs, WORKSPACE_DEFAULTS } from "./components/workspace/validate";

export { AksInferenceCluster } from "./components/cluster";
export type { AksInferenceClusterArgs } from "./components/cluster";
export { validateAksInferenceClusterArgs } from "./components/cluster/validate";
export { CLUSTER_DEFAULTS } from "./components/cluster/defaults";
export type { ResolvedClusterArgs } from "./components/cluster/validate";
export { computeRequiredHosts } from "./components/cluster/hosts";
export type { RequiredHost, RequiredHostsInput } from "./components/cluster/hosts";
export {
    VM_SKUS,
    lookupVmSku,
    detectAccelerators,
    checkPurposeSizing,
    CLUSTER_PURPOSES,
} from "./components/cluster/sizing";
export type { ClusterPurpose } from "./components/cluster/sizing";
export {
    ROUTER_RBAC,
    ROUTER_LEASE_NAME,
    ROUTER_NAME,
    DEFAULT_ROUTER_NAMESPACE,
} from "./components/cluster/router-rbac";
export type { RbacRule } from "./components/cluster/router-rbac";
export {
    renderRouterObjects,
    routerProfile,
    ROUTER_POD_LABELS,
} from "./components/cluster/router-install";
export type { RouterRenderConfig } from "./components/cluster/router-install";

export * from "./components/image";

export * from "./components/webservice";

export * from "./policy/testing";

export * from "./router/types";
export { Router, MAX_BODY_BYTES } from "./router/router";
export type { RouterOptions } from "./router/router";
export { RouterServer } from "./router/server";
export type { RouterServerOptions, ServerLimits } from "./router/server";
export { startRouter, optionsFromEnv } from "./router/main";
export type {
    StartRouterOptions,
    RunningRouter,
    RouterExtension,
    RouterExtensionFactory,
} from "./router/main";
export {
    Authenticator,
    getToken,
    generateSigningKey,
    tokenAuthConfig,
    generateServiceKey,
    defaultTokenIssuer,
    defaultTokenAudience,
} from "./router/auth";
export type {
    AuthResult,
    AuthenticatorOptions,
    AccessToken,
    GetTokenOptions,
    SigningKeyPair,
    TokenAuthConfigInput,
} from "./router/auth";
export { decide, DEFAULT_SCALE_DOWN_DELAY_MS } from "./router/autoscaler/decide";
export type { Decision, DecideInput, AutoscalerState } from "./router/autoscaler/decide";
export { AutoscalerLoop } from "./router/autoscaler/loop";
export type { AutoscalerLoopOptions, AutoscalerDecisionEvent } from "./router/autoscaler/loop";
export { ManualClock } from "./router/autoscaler/clock";
export { LocalBackend, ReplicaFailedError } from "./router/backends/local";
export type {
    LocalServiceSpec,
    LocalBackendOptions,
    ReplicaEvent,
    LocalReplicaInfo,
} from "./router/backends/local";
