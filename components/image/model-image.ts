/**
 * `ModelImage`: the environment image of a model service, cached by content hash (R12–R14).
 *
 * 1. The hash of base image + Docker steps + conda YAML + pip packages is computed synchronously
 *    from plain args (they are the image's identity, so they must be known at preview).
 * 2. `azureml/azureml_<hash>:<hash>` is looked up with a manifest HEAD: workspace registry first,
 *    then each fallback registry in order (R14). This runs in preview too (read-only).
 * 3. Hit → `imageRef` is `<registry where found>/azureml/azureml_<hash>@<digest>`, no build
 *    resource. Miss → a `docker.Image` child builds and pushes to the workspace registry; preview
 *    shows it but never builds (`buildOnPreview: false`), and `imageRef` is its `repoDigest`.
 *
 * The image holds no entry script and no models (those go in the app layer, see context.ts), so
 * changing them never rebuilds it (R13).
 */
import { readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { knownValue, Problems } from "../common/validation";
import { renderEnvironmentContext } from "./context";
import {
    DEFAULT_PLATFORM,
    checkEnvironment,
    hashCanonicalEnvironment,
    imageRepository,
    imageTag,
    type CanonicalEnvironment,
    type EnvironmentSpec,
} from "./hash";
import { registryAuth } from "./acr-credentials";
import {
    RegistryError,
    checkLookupTimeout,
    checkRegistryCredentials,
    findImage,
    parseRegistryServer,
    registryServerProblem,
    type ImageSearchResult,
    type RegistryEndpoint,
} from "./registry";

/** Default base image: AML's CPU inference base (Ubuntu 22.04, OpenMPI, miniconda). Pin a dated
 * tag in production: the tag is hashed as written, so `:latest` never triggers a rebuild. */
export const DEFAULT_BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest";

/** Where build contexts are written unless `buildContextRoot` says otherwise. */
export function defaultBuildContextRoot(): string {
    return path.join(os.tmpdir(), "amlaks-image-contexts");
}

/** A registry searched after the workspace registry (AML's "global" registry, R14). */
export interface FallbackRegistryArgs {
    /** Login server, e.g. `sharedacr.azurecr.io` (an `http://` prefix forces plain http). */
    readonly server: pulumi.Input<string>;
    /** @default - anonymous */
    readonly username?: pulumi.Input<string>;
    /** Password or token (kept secret). @default - anonymous */
    readonly password?: pulumi.Input<string>;
}

export interface ModelImageArgs {
    /**
     * Workspace registry login server (`AmlWorkspace`'s ACR login server, e.g.
     * `myacr.azurecr.io`). Built images are pushed here. `http://` forces plain http (loopback
     * hosts use http by default).
     */
    readonly registryServer: pulumi.Input<string>;
    /**
     * Registry username (Basic auth or the Docker token flow). For ACR with a refresh token of
     * your own use `00000000-0000-0000-0000-000000000000`.
     * @default - an ACR (`*.azurecr.io`): Microsoft Entra through `DefaultAzureCredential` (az
     * login, environment, workload or managed identity) exchanged for an ACR token, for the lookup
     * (preview too) and the push; other registries: anonymous lookups, the Docker provider's own
     * credentials for the push
     */
    readonly registryUsername?: pulumi.Input<string>;
    /** Registry password or token; wrapped as a secret. @default - none */
    readonly registryPassword?: pulumi.Input<string>;
    /**
     * Registries searched, in order, when the workspace registry lacks the image (R14). A hit is
     * used by digest from where it was found (not copied): the cluster must be able to pull there.
     * @default []
     */
    readonly fallbackRegistries?: pulumi.Input<pulumi.Input<FallbackRegistryArgs>[]>;
    /**
     * Base image. Plain value: part of the hash.
     * @default "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
     */
    readonly baseImage?: string;
    /** Dockerfile instructions run after `FROM` (no `FROM`). Plain value: part of the hash. @default - none */
    readonly dockerSteps?: string;
    /** Path of a conda environment YAML file, read at program start. Exclusive with `condaYaml`. @default - none */
    readonly condaFile?: string;
    /** Conda environment YAML text. Exclusive with `condaFile`. @default - none */
    readonly condaYaml?: string;
    /** Extra pip requirements, installed after conda, in order. Part of the hash. @default [] */
    readonly pipPackages?: string[];
    /**
     * Run the conda/pip install step. `false` only for offline tests; part of the hash.
     * @default true
     */
    readonly installEnvironment?: boolean;
    /** Build platform `os/arch`; part of the hash when not the default. @default "linux/amd64" */
    readonly platform?: string;
    /**
     * Folder under which the build context `env-<hash>` is written (only on a cache miss).
     * @default - `<os temp dir>/amlaks-image-contexts`
     */
    readonly buildContextRoot?: string;
    /** Timeout of each registry request, in milliseconds. @default 15000 */
    readonly lookupTimeoutMs?: number;
}

/** The args after validation: everything the hash and the build need. */
export interface ResolvedModelImageArgs {
    readonly spec: EnvironmentSpec;
    readonly environment: CanonicalEnvironment;
    readonly hash: string;
    readonly buildContextRoot: string;
    readonly lookupTimeoutMs: number;
}

const known = <T>(v: pulumi.Input<T> | undefined): T | undefined => knownValue<T>(v);

/**
 * Validates every known arg and computes the hash; collects all problems and throws one
 * `ValidationError`. Reads `condaFile` (the only I/O). Values that are still Outputs
 * (registry server, credentials) are checked again when they resolve.
 */
export function validateModelImageArgs(args: ModelImageArgs): ResolvedModelImageArgs {
    const problems = new Problems();
    if (!args || typeof args !== "object") {
        problems.add("args", args, "must be an object");
        problems.throwIfAny("ModelImage args");
    }
    if (args.registryServer === undefined) {
        problems.add(
            "registryServer",
            undefined,
            "is required: the workspace registry login server",
        );
    } else {
        const server = known(args.registryServer);
        const problem = server === undefined ? undefined : registryServerProblem(server);
        if (problem) problems.add("registryServer", server, problem);
    }
    // Only compare presence when both are plain; an Output may resolve to undefined on purpose.
    checkRegistryCredentials(
        problems,
        "registryUsername",
        "registryPassword",
        known(args.registryUsername),
        known(args.registryPassword),
    );
    const fallbacks = known(args.fallbackRegistries);
    if (fallbacks !== undefined) {
        if (!Array.isArray(fallbacks)) {
            problems.add(
                "fallbackRegistries",
                fallbacks,
                "must be an array of { server, username?, password? }",
            );
        } else {
            fallbacks.forEach((f, i) => {
                const fb = known(f);
                if (fb === undefined) return;
                const server = known(fb.server);
                if (fb.server === undefined) {
                    problems.add(`fallbackRegistries[${i}].server`, undefined, "is required");
                } else if (server !== undefined) {
                    const problem = registryServerProblem(server);
                    if (problem) problems.add(`fallbackRegistries[${i}].server`, server, problem);
                }
                checkRegistryCredentials(
                    problems,
                    `fallbackRegistries[${i}].username`,
                    `fallbackRegistries[${i}].password`,
                    known(fb.username),
                    known(fb.password),
                );
            });
        }
    }

    let condaYaml = args.condaYaml;
    let condaField = "condaYaml";
    if (args.condaFile !== undefined && args.condaYaml !== undefined) {
        problems.add("condaFile", args.condaFile, "and condaYaml are exclusive: give one of them");
    } else if (args.condaFile !== undefined) {
        condaField = "condaFile";
        if (typeof args.condaFile !== "string" || args.condaFile === "") {
            problems.add("condaFile", args.condaFile, "must be a path to a conda YAML file");
        } else {
            try {
                condaYaml = readFileSync(args.condaFile, "utf8");
            } catch (e) {
                const code = (e as NodeJS.ErrnoException).code ?? "error";
                problems.add("condaFile", args.condaFile, `cannot be read (${code})`);
            }
        }
    }
    const spec: EnvironmentSpec = {
        baseImage: args.baseImage ?? DEFAULT_BASE_IMAGE,
        ...(args.dockerSteps !== undefined ? { dockerSteps: args.dockerSteps } : {}),
        ...(condaYaml !== undefined ? { condaYaml } : {}),
        ...(args.pipPackages !== undefined ? { pipPackages: args.pipPackages } : {}),
        ...(args.installEnvironment !== undefined
            ? { installEnvironment: args.installEnvironment }
            : {}),
        platform: args.platform ?? DEFAULT_PLATFORM,
    };
    const environment = checkEnvironment(spec, problems, { condaYaml: condaField });

    if (
        args.buildContextRoot !== undefined &&
        (typeof args.buildContextRoot !== "string" || args.buildContextRoot === "")
    ) {
        problems.add("buildContextRoot", args.buildContextRoot, "must be a folder path");
    }
    const timeout = checkLookupTimeout(problems, args.lookupTimeoutMs);
    problems.throwIfAny("ModelImage args");
    return {
        spec,
        environment,
        hash: hashCanonicalEnvironment(environment),
        buildContextRoot: path.resolve(args.buildContextRoot ?? defaultBuildContextRoot()),
        lookupTimeoutMs: timeout,
    };
}

/** What the lookup decided (plain data, no secrets). */
interface ImagePlan {
    readonly hit: boolean;
    readonly registry: string;
    readonly repository: string;
    /** Set on a hit; on a miss the reference comes from the build's repoDigest. */
    readonly imageRef?: string;
}

/** Log line for a plan; exported for tests and for users' own logging. */
export function describeImagePlan(
    hash: string,
    found: { found: boolean; registry?: string; digest?: string; searched: readonly string[] },
    pushTo: string,
    dryRun: boolean,
): string {
    const repo = imageRepository(hash);
    if (found.found) {
        return `cache hit: ${repo}:${hash} found in ${found.registry} (${found.digest}); no build`;
    }
    return dryRun
        ? `will build: ${repo}:${hash} not found in ${found.searched.join(", ")}; ` +
              `the update will build it and push it to ${pushTo} (nothing is built during preview)`
        : `cache miss: ${repo}:${hash} not found in ${found.searched.join(", ")}; ` +
              `building and pushing to ${pushTo}`;
}

/**
 * The environment image of a model service: looked up by content hash in the workspace registry,
 * then in fallback registries, and built + pushed only when absent (R12–R14).
 */
export class ModelImage extends pulumi.ComponentResource {
    /** The image pinned by digest: `<registry>/azureml/azureml_<hash>@sha256:...`. */
    readonly imageRef: pulumi.Output<string>;
    /** The 32-hex environment hash. */
    readonly environmentHash: pulumi.Output<string>;
    /** True when an existing image was reused (no build). */
    readonly cacheHit: pulumi.Output<boolean>;
    /** Registry host where the image was found or is pushed. */
    readonly registry: pulumi.Output<string>;
    /** `<registry>/azureml/azureml_<hash>`. */
    readonly repository: pulumi.Output<string>;

    constructor(name: string, args: ModelImageArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validate before registering anything: a bad arg creates no resource at all.
        const resolved = validateModelImageArgs(args);
        super("amlaks:index:ModelImage", name, {}, opts);

        const hash = resolved.hash;
        const repositoryPath = imageRepository(hash);
        const tag = imageTag(hash);
        const password =
            args.registryPassword === undefined ? undefined : pulumi.secret(args.registryPassword);

        // An ACR without credentials given: Microsoft Entra (DefaultAzureCredential) and ACR's
        // token exchange, for the lookup (preview too) and the push. The admin user is off on the
        // workspace registry, so anonymous access gets 401 (issue 11 item 3).
        const auth = registryAuth(
            args.registryServer,
            args.registryUsername,
            password,
            resolved.lookupTimeoutMs,
            this,
        );
        const pushUser = auth.username;
        const pushPassword = auth.password;

        // The lookup result carries no secret, so unsecret it: outputs like imageRef stay plain.
        const found = pulumi.unsecret(
            pulumi
                .all([
                    args.registryServer,
                    pushUser,
                    pushPassword,
                    pulumi.output(args.fallbackRegistries ?? []),
                ])
                .apply(async ([server, username, pass, fallbacks]) => {
                    const problems = new Problems();
                    const sp = registryServerProblem(server);
                    if (sp) problems.add("registryServer", server, sp);
                    (fallbacks ?? []).forEach((f, i) => {
                        const p = registryServerProblem(f?.server);
                        if (p) problems.add(`fallbackRegistries[${i}].server`, f?.server, p);
                    });
                    problems.throwIfAny("ModelImage args");
                    const workspace: RegistryEndpoint = {
                        server,
                        ...(username !== undefined ? { username } : {}),
                        ...(pass !== undefined ? { password: pass } : {}),
                    };
                    let result: ImageSearchResult;
                    try {
                        result = await findImage(
                            workspace,
                            (fallbacks ?? []).map((f) => ({
                                server: f.server,
                                ...(f.username !== undefined ? { username: f.username } : {}),
                                ...(f.password !== undefined ? { password: f.password } : {}),
                            })),
                            repositoryPath,
                            tag,
                            { timeoutMs: resolved.lookupTimeoutMs },
                        );
                    } catch (e) {
                        // A preview from a machine that cannot reach the registry still shows a
                        // plan (a build) with a warning; the update itself fails on the error.
                        if (!pulumi.runtime.isDryRun() || !(e instanceof RegistryError)) throw e;
                        result = {
                            found: false,
                            searched: [parseRegistryServer(server).host],
                            warnings: [
                                `registry lookup failed during preview (${e.message}); ` +
                                    `showing a build, the update will fail unless the registry answers`,
                            ],
                        };
                    }
                    for (const w of result.warnings) void pulumi.log.warn(w, this);
                    return {
                        found: result.found,
                        registry: result.registry,
                        digest: result.digest,
                        imageRef: result.imageRef,
                        searched: [...result.searched],
                        workspaceHost: parseRegistryServer(server).host,
                    };
                }),
        );

        // The build resource (on a miss) is kept out of the plan object, so that the plan (hit,
        // registry, repository) stays known in preview even though repoDigest is not.
        let build: docker.Image | undefined;
        const plan: pulumi.Output<ImagePlan> = found.apply((r): ImagePlan => {
            const dryRun = pulumi.runtime.isDryRun();
            void pulumi.log.info(describeImagePlan(hash, r, r.workspaceHost, dryRun), this);
            if (r.found && r.registry && r.imageRef) {
                return {
                    hit: true,
                    registry: r.registry,
                    repository: `${r.registry}/${repositoryPath}`,
                    imageRef: r.imageRef,
                };
            }
            // Miss: write the deterministic context, then build + push with @pulumi/docker.
            const context = renderEnvironmentContext(
                path.join(resolved.buildContextRoot, `env-${hash}`),
                resolved.spec,
            );
            build = new docker.Image(
                `${name}-build`,
                {
                    imageName: `${r.workspaceHost}/${repositoryPath}:${tag}`,
                    build: {
                        context: context.directory,
                        dockerfile: path.join(context.directory, context.dockerfile),
                        platform: resolved.environment.platform,
                    },
                    registry: {
                        server: r.workspaceHost,
                        ...auth.pushCredentials(r.workspaceHost),
                    },
                    // Never build during preview (pulumi-anchors §8); the update builds.
                    buildOnPreview: false,
                    skipPush: false,
                },
                // Pushed images outlive this resource: once pushed, the next run is a cache hit
                // and drops the resource from state, which must not touch the registry.
                { parent: this, retainOnDelete: true },
            );
            return {
                hit: false,
                registry: r.workspaceHost,
                repository: `${r.workspaceHost}/${repositoryPath}`,
            };
        });

        this.environmentHash = pulumi.output(hash);
        this.imageRef = plan.apply((p) =>
            p.imageRef !== undefined ? pulumi.output(p.imageRef) : build!.repoDigest,
        );
        this.cacheHit = plan.apply((p) => p.hit);
        this.registry = plan.apply((p) => p.registry);
        this.repository = plan.apply((p) => p.repository);
        this.registerOutputs({
            imageRef: this.imageRef,
            environmentHash: this.environmentHash,
            cacheHit: this.cacheHit,
            registry: this.registry,
            repository: this.repository,
        });
    }
}
