/**
 * Delivery of code and models to model pods (modelDelivery "image"): a thin image
 * `FROM <environment image@digest>` with the project snapshot under `/var/azureml-app` and the
 * models under `/var/azureml-app/azureml-models/...`, built from the context that the image
 * helper's `renderAppLayerContext` writes, pushed with @pulumi/docker to the same registry, and
 * referenced by digest. Changing the entry script or a model rebuilds only this layer (R13).
 */
import { createHash } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { APP_ROOT, modelServerEnvironment, renderAppLayerContext } from "../image/context";
import { checkModelLayout } from "../image/models";
import { Problems } from "../common/validation";
import type { AppLayout } from "./render";

/** Repository of a service's app-layer images in the registry. */
export function appLayerRepository(service: string): string {
    return `amlaks-apps/${service}`;
}

/**
 * Where the app-layer build context is written: outside the project (a context inside the source
 * directory would end up in the next snapshot), stable for one project folder and component.
 */
export function appLayerContextDirectory(cwd: string, componentName: string): string {
    const key = createHash("sha256").update(`${cwd}\0${componentName}`).digest("hex").slice(0, 16);
    return path.join(os.tmpdir(), "amlaks-app-layers", `${componentName}-${key}`);
}

/**
 * The in-container layout for an entry script (relative to the source directory) and models
 * (absolute paths), decided without reading files. Uses the image helper's model plan so the
 * `AZUREML_MODEL_DIR` here is the one the layer bakes in.
 */
export function planAppLayout(entryScript: string, models: readonly string[]): AppLayout {
    const p = new Problems();
    const plan = checkModelLayout(models, "/", p);
    p.throwIfAny("models");
    const env = modelServerEnvironment(entryScript, plan.modelDir);
    return {
        appRoot: APP_ROOT,
        // The snapshot is copied to the app root itself.
        sourceDirectory: APP_ROOT,
        entryScript: env.AZUREML_ENTRY_SCRIPT,
        modelDir: env.AZUREML_MODEL_DIR ?? "",
        models: plan.models.map((m) => ({ name: m.name, version: m.version })),
    };
}

export interface AppLayerArgs {
    readonly service: string;
    /** Environment image, pinned by digest. */
    readonly environmentImage: pulumi.Input<string>;
    readonly sourceDirectory: string;
    readonly entryScript: string;
    readonly models: readonly string[];
    readonly contextDirectory: string;
    readonly registryServer: pulumi.Input<string>;
    readonly registryUsername?: pulumi.Input<string>;
    readonly registryPassword?: pulumi.Input<string>;
    /** Build platform (the environment image's). */
    readonly platform: string;
}

/**
 * Writes the context (inside an apply, once the environment digest is known; nothing is written
 * while it is unknown in a preview) and registers the `docker.Image` that builds and pushes it.
 * Returns the pushed image pinned by digest.
 */
export function buildAppLayer(
    name: string,
    args: AppLayerArgs,
    opts: pulumi.CustomResourceOptions,
): { image: docker.Image; imageRef: pulumi.Output<string> } {
    const context = pulumi.output(args.environmentImage).apply((environmentImage) =>
        renderAppLayerContext({
            directory: args.contextDirectory,
            environmentImage,
            sourceDirectory: args.sourceDirectory,
            entryScript: args.entryScript,
            models: args.models,
            modelsBaseDir: "/",
        }),
    );
    const registry: docker.types.input.Registry = { server: args.registryServer };
    if (args.registryUsername !== undefined) registry.username = args.registryUsername;
    if (args.registryPassword !== undefined) {
        registry.password = pulumi.secret(args.registryPassword);
    }
    const image = new docker.Image(
        `${name}-app-image`,
        {
            // Tag = content hash of Dockerfile + snapshot + models: same content, same tag.
            imageName: pulumi
                .all([args.registryServer, context.hash])
                .apply(
                    ([server, hash]) =>
                        `${server.replace(/\/+$/, "")}/${appLayerRepository(args.service)}:${hash.slice(0, 32)}`,
                ),
            build: {
                context: context.directory,
                dockerfile: context.apply((c) => path.join(c.directory, c.dockerfile)),
                platform: args.platform,
            },
            registry,
            // Never build during preview (pulumi-anchors §8); the update builds and pushes.
            buildOnPreview: false,
            skipPush: false,
        },
        opts,
    );
    return { image, imageRef: image.repoDigest };
}
