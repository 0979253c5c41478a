// ModelImage during `pulumi preview` (mocks with preview = true): the lookup runs (read-only), a
// miss shows the docker.Image that the update will build, and nothing is built during preview
// (buildOnPreview: false, pulumi-anchors §8).
import { after, before, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { imageRepository } from "../../components/image/hash";
import {
    ModelImage,
    describeImagePlan,
    validateModelImageArgs,
} from "../../components/image/model-image";
import { freePort, pushTestImage, startRegistry, type RegistryHandle } from "../support/docker";

const resources: pulumi.runtime.MockResourceArgs[] = [];

pulumi.runtime.setMocks(
    {
        newResource: (args) => {
            resources.push(args);
            return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
    },
    "amlaks",
    "test",
    true, // preview
);

function value<T>(o: pulumi.Output<T>): Promise<T> {
    return (o as unknown as { promise(): Promise<T> }).promise();
}

describe("ModelImage (preview)", () => {
    let registry: RegistryHandle;
    let contexts: string;
    const logs: string[] = [];
    const warnings: string[] = [];
    before(async () => {
        registry = await startRegistry();
        contexts = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-mip-"));
        mock.method(console, "log", (...a: unknown[]) => logs.push(a.join(" ")));
        mock.method(console, "warn", (...a: unknown[]) => warnings.push(a.join(" ")));
    });
    after(async () => {
        mock.restoreAll();
        await registry?.stop();
        if (contexts) await fsp.rm(contexts, { recursive: true, force: true });
    });

    test("runs as a preview", () => {
        assert.equal(pulumi.runtime.isDryRun(), true);
    });

    test("a miss shows the build with buildOnPreview: false and says it will build on update", async () => {
        const args = {
            registryServer: registry.host,
            dockerSteps: "RUN echo preview-miss",
            buildContextRoot: contexts,
        };
        const hash = validateModelImageArgs(args).hash;
        const img = new ModelImage("pmiss", args);
        assert.equal(await value(img.cacheHit), false);
        // the digest only exists once the update has built and pushed
        assert.equal(await value(img.imageRef), undefined);
        const builds = resources.filter((r) => r.type === "docker:index/image:Image");
        assert.equal(builds.length, 1);
        assert.equal(builds[0].name, "pmiss-build");
        assert.equal(builds[0].inputs.buildOnPreview, false);
        assert.equal(
            builds[0].inputs.imageName,
            `${registry.host}/azureml/azureml_${hash}:${hash}`,
        );
        assert.ok(
            logs.some((l) =>
                l.includes(
                    `will build: azureml/azureml_${hash}:${hash} not found in ${registry.host}; ` +
                        `the update will build it and push it to ${registry.host} (nothing is built during preview)`,
                ),
            ),
            logs.join("\n"),
        );
    });

    test("a hit shows no build and the pinned reference", async () => {
        const args = {
            registryServer: registry.host,
            dockerSteps: "RUN echo preview-hit",
            buildContextRoot: contexts,
        };
        const hash = validateModelImageArgs(args).hash;
        const pushed = await pushTestImage(registry.url, imageRepository(hash), hash);
        const before = resources.filter((r) => r.type === "docker:index/image:Image").length;
        const img = new ModelImage("phit", args);
        assert.equal(
            await value(img.imageRef),
            `${registry.host}/azureml/azureml_${hash}@${pushed.digest}`,
        );
        assert.equal(await value(img.cacheHit), true);
        assert.equal(resources.filter((r) => r.type === "docker:index/image:Image").length, before);
    });

    test("an unreachable registry does not fail the preview: a build is shown, with a warning", async () => {
        const closed = `127.0.0.1:${await freePort()}`;
        const img = new ModelImage("pdown", {
            registryServer: closed,
            registryUsername: "u",
            registryPassword: "pw-not-in-logs",
            dockerSteps: "RUN echo preview-down",
            buildContextRoot: contexts,
        });
        assert.equal(await value(img.cacheHit), false);
        assert.equal(await value(img.imageRef), undefined);
        assert.ok(resources.some((r) => r.name === "pdown-build"));
        const w = warnings.find((l) => l.includes("registry lookup failed during preview"));
        assert.ok(w, warnings.join("\n"));
        assert.match(w, /connection refused/);
        assert.ok(!warnings.some((l) => l.includes("pw-not-in-logs")));
    });

    test("plan messages", () => {
        const hash = "0123456789abcdef0123456789abcdef";
        assert.equal(
            describeImagePlan(
                hash,
                { found: true, registry: "a.io", digest: "sha256:1", searched: ["a.io"] },
                "a.io",
                true,
            ),
            `cache hit: azureml/azureml_${hash}:${hash} found in a.io (sha256:1); no build`,
        );
        assert.match(
            describeImagePlan(hash, { found: false, searched: ["a.io", "b.io"] }, "a.io", false),
            /^cache miss: .* not found in a\.io, b\.io; building and pushing to a\.io$/,
        );
    });
});
