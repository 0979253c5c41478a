/**
 * The router image (azureml-fe equivalent, R18) that the library builds itself: a v1 user never
 * built azureml-fe, so `AksInferenceCluster` must not need a router image from its user.
 *
 * Same pattern as `ModelImage` (components/image/model-image.ts):
 * 1. The build context ships in the package: `dist/router-image/{Dockerfile,router.js}`, written
 *    by `npm run build` (scripts/bundle-router.mjs). Its content, the base image and the platform
 *    are hashed at program start, so the image name is known at preview.
 * 2. `<registry>/amlaks/router:<tag>` is looked up with a manifest HEAD, in preview too
 *    (read-only).
 * 3. Hit → `imageRef` is `<registry>/amlaks/router@<digest>`, no build resource. Miss → a
 *    `docker.Image` child builds and pushes it; preview shows it but never builds
 *    (`buildOnPreview: false`), and `imageRef` is its `repoDigest`.
 *
 * An upgrade of the package changes the bundle, hence the tag, hence one build per registry per
 * release; every later `pulumi up` (any machine) is a cache hit.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import * as docker from "@pulumi/docker";
import { registryAuth } from "../image/acr-credentials";
import * as pulumi from "@pulumi/pulumi";
import { knownValue, Problems } from "../common/validation";
import {
    DEFAULT_PLATFORM,
    PLATFORM_RULE,
    canonicalJson,
    imageReferenceRule,
    isImageReference,
} from "../image/hash";
import { CLUSTER_DEFAULTS } from "./defaults";
import {
    RegistryError,
    checkLookupTimeout,
    checkRegistryCredentials,
    findImage,
    parseRegistryServer,
    registryServerProblem,
    type ImageSearchResult,
} from "../image/registry";

/** Repository of the router image in the cluster's registry. */
export const routerImageRepository = "amlaks/router";

/** Bump when what goes into the image changes in a way the hashed inputs do not show. */
export const ROUTER_IMAGE_HASH_VERSION = 1;

/** File names inside the build context. */
export const ROUTER_DOCKERFILE = "Dockerfile";
export const ROUTER_BUNDLE = "router.js";

/** What defines the router image. */
export interface RouterImageHashInput {
    /** Dockerfile content, as built. */
    readonly dockerfile: Buffer | string;
    /** router.js content, as built. */
    readonly bundle: Buffer | string;
    /** Base image reference, as passed in `BASE_IMAGE`. */
    readonly baseImage: string;
    /** Build platform `os/arch[/variant]`. */
    readonly platform: string;
}

function sha256(data: Buffer | string): string {
    return createHash("sha256").update(data).digest("hex");
}

/**
 * SHA-256 (64 hex) of the canonical JSON document
 * `{ amlaksRouterImage: 1, baseImage, platform, dockerfileSha256, bundleSha256 }`.
 * Pure: equal inputs give the same hash on every machine.
 */
export function routerImageHash(input: RouterImageHashInput): string {
    return sha256(
        canonicalJson({
            amlaksRouterImage: ROUTER_IMAGE_HASH_VERSION,
            baseImage: input.baseImage,
            platform: input.platform,
            dockerfileSha256: sha256(input.dockerfile),
            bundleSha256: sha256(input.bundle),
        }),
    );
}

/** Image tag for a {@link routerImageHash}: its first 32 hex (as ModelImage tags). */
export function routerImageTag(hash: string): string {
    return hash.slice(0, 32);
}

/** Paths of the router's build context. */
export interface RouterBuildContext {
    /** Folder sent to Docker. */
    readonly dir: string;
    readonly dockerfile: string;
    readonly bundle: string;
}

function contextIn(dir: string): RouterBuildContext {
    return {
        dir,
        dockerfile: path.join(dir, ROUTER_DOCKERFILE),
        bundle: path.join(dir, ROUTER_BUNDLE),
    };
}

function isComplete(ctx: RouterBuildContext): boolean {
    return existsSync(ctx.dockerfile) && existsSync(ctx.bundle);
}

/**
 * Locates `dist/router-image` of this package. `moduleFile` is this module's file:
 * `<pkg>/dist/components/cluster/router-image.js` when installed (context at
 * `<pkg>/dist/router-image`), `<repo>/components/cluster/router-image.ts` under tsx (context at
 * `<repo>/dist/router-image`). Throws, telling to run `npm run build`, when it is missing.
 */
export function routerBuildContext(moduleFile: string = __filename): RouterBuildContext {
    const up2 = path.resolve(path.dirname(moduleFile), "..", "..");
    const fromSource = moduleFile.endsWith(".ts");
    const ctx = contextIn(
        fromSource ? path.join(up2, "dist", "router-image") : path.join(up2, "router-image"),
    );
    if (!isComplete(ctx)) {
        throw new Error(
            `The router image build context ${ctx.dir} is missing or incomplete ` +
                `(needs ${ROUTER_DOCKERFILE} and ${ROUTER_BUNDLE}). ` +
                (fromSource
                    ? "Run `npm run build` in the repository to bundle the router."
                    : "The package is damaged: reinstall it, or run `npm run build` in its source."),
        );
    }
    return ctx;
}

export interface RouterImageArgs {
    /**
     * Registry login server the image is looked up in and pushed to (the workspace ACR, e.g.
     * `myacr.azurecr.io`). `http://` forces plain http (loopback hosts use http by default).
     */
    readonly registryServer: pulumi.Input<string>;
    /** @default - anonymous lookups; the Docker provider's own credentials for the push */
    readonly registryUsername?: pulumi.Input<string>;
    /** Password or token; wrapped as a secret. @default - none */
    readonly registryPassword?: pulumi.Input<string>;
    /** Base image (`BASE_IMAGE` build arg); part of the hash. @default CLUSTER_DEFAULTS.routerBaseImage */
    readonly baseImage?: string;
    /** Build platform `os/arch`; part of the hash. @default "linux/amd64" */
    readonly platform?: string;
    /**
     * Build context holding `Dockerfile` and `router.js` (e.g. a router bundled with local
     * changes). @default - the package's `dist/router-image`
     */
    readonly buildContextDir?: string;
    /** Timeout of each registry request, in milliseconds. @default 15000 */
    readonly lookupTimeoutMs?: number;
}

/** The args after validation, with the content hash. */
export interface ResolvedRouterImageArgs {
    readonly context: RouterBuildContext;
    readonly baseImage: string;
    readonly platform: string;
    readonly hash: string;
    readonly tag: string;
    readonly lookupTimeoutMs: number;
}

const known = <T>(v: pulumi.Input<T> | undefined): T | undefined => knownValue<T>(v);

/**
 * Validates the plain args (all problems at once, one `ValidationError`), reads the build context
 * and hashes it. Outputs (server, credentials) are checked again when they resolve.
 */
export function resolveRouterImageArgs(args: RouterImageArgs): ResolvedRouterImageArgs {
    const p = new Problems();
    if (args.registryServer === undefined) {
        p.add("registryServer", undefined, "is required: the registry the router image goes to");
    } else {
        const server = known(args.registryServer);
        const problem = server === undefined ? undefined : registryServerProblem(server);
        if (problem) p.add("registryServer", server, problem);
    }
    checkRegistryCredentials(
        p,
        "registryUsername",
        "registryPassword",
        args.registryUsername,
        args.registryPassword,
    );
    const rawBase: unknown = args.baseImage ?? CLUSTER_DEFAULTS.routerBaseImage;
    const baseImage = typeof rawBase === "string" ? rawBase.trim() : "";
    if (!isImageReference(baseImage)) {
        p.add("baseImage", args.baseImage, imageReferenceRule());
    }
    const platform = args.platform ?? DEFAULT_PLATFORM;
    if (typeof platform !== "string" || !PLATFORM_RULE.pattern.test(platform)) {
        p.add("platform", args.platform, PLATFORM_RULE.rule);
    }
    const timeout = checkLookupTimeout(p, args.lookupTimeoutMs);
    let context: RouterBuildContext | undefined;
    if (args.buildContextDir !== undefined) {
        if (typeof args.buildContextDir !== "string" || args.buildContextDir === "") {
            p.add("buildContextDir", args.buildContextDir, "must be a folder path");
        } else {
            context = contextIn(path.resolve(args.buildContextDir));
            if (!isComplete(context)) {
                p.add(
                    "buildContextDir",
                    args.buildContextDir,
                    `must be a folder holding ${ROUTER_DOCKERFILE} and ${ROUTER_BUNDLE}`,
                );
            }
        }
    }
    p.throwIfAny("router image args");
    context ??= routerBuildContext();
    const hash = routerImageHash({
        dockerfile: readFileSync(context.dockerfile),
        bundle: readFileSync(context.bundle),
        baseImage,
        platform,
    });
    return {
        context,
        baseImage,
        platform,
        hash,
        tag: routerImageTag(hash),
        lookupTimeoutMs: timeout,
    };
}

/** Log line for the lookup result (no secrets). */
export function describeRouterImagePlan(
    tag: string,
    found: { found: boolean; registry?: string; digest?: string },
    registry: string,
    dryRun: boolean,
): string {
    const what = `${routerImageRepository}:${tag}`;
    if (found.found) return `router image ${what} found in ${registry} (${found.digest}); no build`;
    return dryRun
        ? `router image ${what} not found in ${registry}; the update will build it and push it ` +
              `there (nothing is built during preview)`
        : `router image ${what} not found in ${registry}; building and pushing it`;
}

/** What {@link routerImage} gives the cluster component. */
export interface RouterImageResult {
    /** `<registry>/amlaks/router@sha256:...`; unknown during a preview that will build. */
    readonly imageRef: pulumi.Output<string>;
    /** True when an image with this content hash was already in the registry. */
    readonly cacheHit: pulumi.Output<boolean>;
    /** The content-hash tag. */
    readonly tag: string;
}

/**
 * The router image in `registryServer`: reused when `amlaks/router:<content hash>` exists, else
 * built from the package's build context and pushed by a `docker.Image` named
 * `${name}-router-image` (created with `opts`; never built during preview).
 */
export function routerImage(
    name: string,
    args: RouterImageArgs,
    opts: pulumi.CustomResourceOptions = {},
): RouterImageResult {
    const r = resolveRouterImageArgs(args);
    const logTo = opts.parent;
    const password =
        args.registryPassword === undefined ? undefined : pulumi.secret(args.registryPassword);
    // An ACR without credentials (the workspace registry, admin user off): Microsoft Entra and
    // ACR's token exchange, for the lookup and the push (issue 11 items 3 and 8).
    const auth = registryAuth(
        args.registryServer,
        args.registryUsername,
        password,
        r.lookupTimeoutMs,
        logTo,
    );

    // The lookup result holds no secret: unsecret it so imageRef stays a plain output.
    const found = pulumi.unsecret(
        pulumi
            .all([args.registryServer, auth.username, auth.password])
            .apply(async ([server, username, pass]) => {
                const p = new Problems();
                const sp = registryServerProblem(server);
                if (sp) p.add("registryServer", server, sp);
                p.throwIfAny("router image args");
                const host = parseRegistryServer(server).host;
                let result: ImageSearchResult;
                try {
                    result = await findImage(
                        {
                            server,
                            ...(username !== undefined ? { username } : {}),
                            ...(pass !== undefined ? { password: pass } : {}),
                        },
                        [],
                        routerImageRepository,
                        r.tag,
                        { timeoutMs: r.lookupTimeoutMs },
                    );
                } catch (e) {
                    // A preview from a machine that cannot reach the registry still shows the
                    // build, with a warning; the update fails on the error (message: registry,
                    // repository, status; never credentials).
                    if (!pulumi.runtime.isDryRun() || !(e instanceof RegistryError)) throw e;
                    void pulumi.log.warn(
                        `router image lookup failed during preview (${e.message}); showing a ` +
                            `build, the update will fail unless the registry answers`,
                        logTo,
                    );
                    result = { found: false, searched: [host], warnings: [] };
                }
                void pulumi.log.info(
                    describeRouterImagePlan(r.tag, result, host, pulumi.runtime.isDryRun()),
                    logTo,
                );
                return { host, imageRef: result.found ? result.imageRef : undefined };
            }),
    );

    // Registered inside the apply (as ModelImage): the hit/miss decision needs the lookup.
    let build: docker.Image | undefined;
    const plan = found.apply((f) => {
        if (f.imageRef !== undefined) return { hit: true, imageRef: f.imageRef };
        build = new docker.Image(
            `${name}-router-image`,
            {
                imageName: `${f.host}/${routerImageRepository}:${r.tag}`,
                build: {
                    context: r.context.dir,
                    dockerfile: r.context.dockerfile,
                    platform: r.platform,
                    args: { BASE_IMAGE: r.baseImage },
                },
                registry: { server: f.host, ...auth.pushCredentials(f.host) },
                // Never build during preview; the update builds.
                buildOnPreview: false,
                skipPush: false,
            },
            // The pushed image outlives this resource: the next run is a cache hit and drops the
            // resource from state, which must not delete the image from the registry.
            { ...opts, retainOnDelete: true },
        );
        return { hit: false, imageRef: undefined };
    });
    return {
        imageRef: plan.apply((p) =>
            p.imageRef !== undefined ? pulumi.output(p.imageRef) : build!.repoDigest,
        ),
        cacheHit: plan.apply((p) => p.hit),
        tag: r.tag,
    };
}
