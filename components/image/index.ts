/**
 * Environment images (R12–R14, R27): hashing, project snapshot, model layout, registry lookups,
 * deterministic build contexts and the `ModelImage` component. See README "ModelImage".
 */
export {
    DEFAULT_PLATFORM,
    ENVIRONMENT_HASH_VERSION,
    ENVIRONMENT_REPOSITORY_PREFIX,
    canonicalCondaYaml,
    canonicalEnvironment,
    canonicalJson,
    environmentHash,
    environmentHashDocument,
    hashCanonicalEnvironment,
    imageReference,
    imageRepository,
    imageTag,
    isImageReference,
    normalizeDockerSteps,
    type CanonicalEnvironment,
    type EnvironmentSpec,
} from "./hash";
export { FIXED_MTIME, TreeError, type TreeEntry } from "./fstree";
export {
    SNAPSHOT_IGNORE_FILES,
    snapshotDirectory,
    writeSnapshotTar,
    type SnapshotOptions,
    type SnapshotResult,
} from "./snapshot";
export {
    MODELS_ROOT,
    deriveModelName,
    layoutModels,
    planModelLayout,
    type ModelInput,
    type ModelLayout,
    type ModelPlan,
    type ModelSpec,
    type PlannedModel,
} from "./models";
export {
    ACR_REFRESH_TOKEN_USERNAME,
    MANIFEST_MEDIA_TYPES,
    RegistryClient,
    RegistryError,
    findImage,
    isLoopbackHost,
    lookupManifest,
    parseAuthenticateHeader,
    parseRegistryServer,
    registryServerProblem,
    type ImageSearchResult,
    type ManifestLookup,
    type RegistryEndpoint,
} from "./registry";
export {
    ACR_ENTRA_SCOPE,
    acrEntraCredentials,
    exchangeForAcrRefreshToken,
    isAcrHost,
    type AccessTokenSource,
    type RegistryCredentials,
} from "./acr-auth";
export {
    APP_ROOT,
    APP_UID,
    SERVER_COMMAND,
    SERVER_PORT,
    condaPrefix,
    modelServerEnvironment,
    planEnvironmentContext,
    renderAppLayerContext,
    renderAppLayerDockerfile,
    renderEnvironmentContext,
    type AppLayerContext,
    type AppLayerOptions,
    type EnvironmentContext,
} from "./context";
export {
    DEFAULT_BASE_IMAGE,
    ModelImage,
    describeImagePlan,
    validateModelImageArgs,
    type FallbackRegistryArgs,
    type ModelImageArgs,
    type ResolvedModelImageArgs,
} from "./model-image";
