/**
 * The router's Kubernetes backend: discovery, keys and scaling of model services
 * (docs/design.md §5).
 */
export {
    KubernetesBackend,
    type KubernetesBackendOptions,
    LOWEST_POD_DELETION_COST,
    MODEL_DEPLOYMENT_SELECTOR,
    SERVICE_OBJECT_SELECTOR,
} from "./backend";
export {
    type BackoffMs,
    DEFAULT_BACKOFF_MS,
    type Lister,
    type ListPage,
    ResourceWatch,
    type ResourceWatchOptions,
    type WatchedObject,
    type WatchHandler,
} from "./watch";
export {
    authSecretNameOf,
    type DeploymentLike,
    type EndpointSliceLike,
    type MetaLike,
    objectRef,
    type OwnershipConflict,
    readAuth,
    readSettings,
    replicasFromSlices,
    resolveOwners,
    type SecretLike,
    serviceNameOf,
    type SettingsResult,
    SLICE_SERVICE_NAME_LABEL,
    translateDeployment,
    type Translation,
} from "./translate";
