// The router image the library builds itself (R18): its content hash, where its build context is
// found, and `routerImage()` under Pulumi mocks against a REAL registry: a hit reuses the image by
// digest with no build resource; a miss registers one docker.Image that is never built during
// preview; credentials stay secret and out of error messages.
import { after, before, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ValidationError } from "../../components/common/validation";
import { CLUSTER_DEFAULTS } from "../../components/cluster/defaults";
import {
    describeRouterImagePlan,
    resolveRouterImageArgs,
    routerBuildContext,
    routerImage,
    routerImageHash,
    routerImageRepository,
    routerImageTag,
    type RouterImageArgs,
} from "../../components/cluster/router-image";
import { freePort, pushTestImage, startRegistry, type RegistryHandle } from "../support/docker";

const resources: pulumi.runtime.MockResourceArgs[] = [];
const MOCK_DIGEST = `sha256:${"ab".repeat(32)}`;
const IMAGE_TYPE = "docker:index/image:Image";

function useMocks(preview: boolean): void {
    void pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                resources.push(args);
                if (args.type === IMAGE_TYPE) {
                    const name = String(args.inputs.imageName);
                    return {
                        id: `${args.name}-id`,
                        state: {
                            ...args.inputs,
                            // Preview: the provider does not know the digest before the build.
                            ...(preview
                                ? {}
                                : {
                                      repoDigest: `${name.slice(0, name.lastIndexOf(":"))}@${MOCK_DIGEST}`,
                                  }),
                        },
                    };
                }
                return { id: `${args.name}-id`, state: args.inputs };
            },
            call: (args) => args.inputs,
        },
        "amlaks",
        "test",
        preview,
    );
}

function value<T>(o: pulumi.Output<T>): Promise<T> {
    return (o as unknown as { promise(): Promise<T> }).promise();
}

function builds(name: string): pulumi.runtime.MockResourceArgs[] {
    return resources.filter((r) => r.type === IMAGE_TYPE && r.name === `${name}-router-image`);
}

const BASE = {
    dockerfile: "FROM x\nCOPY router.js /app/router.js\n",
    bundle: "console.log('router');\n",
    baseImage: CLUSTER_DEFAULTS.routerBaseImage,
    platform: "linux/amd64",
};

describe("routerImageHash", () => {
    test("is pinned: the same inputs name the same image on every machine and release", () => {
        // Known answer of version 1, computed by hand as sha256 of
        // {"amlaksRouterImage":1,"baseImage":...,"bundleSha256":...,"dockerfileSha256":...,
        // "platform":...}; a change here means every cluster rebuilds its router.
        assert.equal(
            routerImageHash(BASE),
            "1b7c96dd3666e901dbe2cba326acb25e86c76d59517d7e3bab04aa81034b13e6",
        );
    });

    test("does not depend on how the content is passed (Buffer or string)", () => {
        assert.equal(
            routerImageHash({
                ...BASE,
                dockerfile: Buffer.from(BASE.dockerfile),
                bundle: Buffer.from(BASE.bundle),
            }),
            routerImageHash(BASE),
        );
    });

    test("changes with the bundle, the Dockerfile, the base image and the platform", () => {
        const h = routerImageHash(BASE);
        const variants = [
            { ...BASE, bundle: `${BASE.bundle} ` },
            { ...BASE, dockerfile: BASE.dockerfile.replace("x", "y") },
            { ...BASE, baseImage: "gcr.io/distroless/nodejs22-debian12:debug-nonroot" },
            { ...BASE, platform: "linux/arm64" },
        ].map(routerImageHash);
        for (const v of variants) assert.notEqual(v, h);
        assert.equal(new Set(variants).size, variants.length);
        // Swapping the two contents is another image too (each is hashed in its own field).
        assert.notEqual(
            routerImageHash({ ...BASE, dockerfile: BASE.bundle, bundle: BASE.dockerfile }),
            h,
        );
    });

    test("the tag is the first 32 hex of the hash", () => {
        const h = routerImageHash(BASE);
        assert.match(h, /^[0-9a-f]{64}$/);
        assert.equal(routerImageTag(h), h.slice(0, 32));
    });
});

describe("routerBuildContext", () => {
    let tree: string;
    before(async () => {
        tree = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-rbc-"));
    });
    after(async () => {
        if (tree) await fsp.rm(tree, { recursive: true, force: true });
    });

    test("installed package: dist/components/cluster/router-image.js → dist/router-image", async () => {
        const pkg = path.join(tree, "node_modules", "@amlaks", "pulumi-aml-aks");
        const ctx = path.join(pkg, "dist", "router-image");
        await fsp.mkdir(ctx, { recursive: true });
        await fsp.writeFile(path.join(ctx, "Dockerfile"), "FROM x\n");
        await fsp.writeFile(path.join(ctx, "router.js"), "");
        assert.deepEqual(
            routerBuildContext(path.join(pkg, "dist", "components", "cluster", "router-image.js")),
            {
                dir: ctx,
                dockerfile: path.join(ctx, "Dockerfile"),
                bundle: path.join(ctx, "router.js"),
            },
        );
    });

    test("from source (tsx): <repo>/dist/router-image, or an error that says to run npm run build", async () => {
        const repo = path.join(tree, "repo");
        const moduleFile = path.join(repo, "components", "cluster", "router-image.ts");
        assert.throws(
            () => routerBuildContext(moduleFile),
            (e: Error) =>
                e.message.includes(path.join(repo, "dist", "router-image")) &&
                e.message.includes("npm run build"),
        );
        const ctx = path.join(repo, "dist", "router-image");
        await fsp.mkdir(ctx, { recursive: true });
        await fsp.writeFile(path.join(ctx, "Dockerfile"), "FROM x\n");
        // Half a context (no bundle) is not a context.
        assert.throws(() => routerBuildContext(moduleFile), /router\.js/);
        await fsp.writeFile(path.join(ctx, "router.js"), "");
        assert.equal(routerBuildContext(moduleFile).dir, ctx);
    });
});

describe("routerImage()", () => {
    let registry: RegistryHandle;
    let secured: RegistryHandle;
    let work: string;
    let context: string;
    const logs: string[] = [];
    const warnings: string[] = [];

    before(async () => {
        [registry, secured] = await Promise.all([
            startRegistry(),
            startRegistry({ htpasswd: { username: "pusher", password: "s3cret-pass-value" } }),
        ]);
        work = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-ri-"));
        context = path.join(work, "ctx");
        await fsp.mkdir(context);
        // The real Dockerfile; the bundle is only hashed here (nothing is built under mocks).
        await fsp.copyFile(
            path.join(__dirname, "..", "..", "router", "Dockerfile"),
            path.join(context, "Dockerfile"),
        );
        await fsp.writeFile(path.join(context, "router.js"), "// bundle v1\n");
        mock.method(console, "log", (...a: unknown[]) => logs.push(a.join(" ")));
        mock.method(console, "warn", (...a: unknown[]) => warnings.push(a.join(" ")));
    });
    after(async () => {
        mock.restoreAll();
        await Promise.all([registry?.stop(), secured?.stop()]);
        if (work) await fsp.rm(work, { recursive: true, force: true });
    });

    const args = (extra: Partial<RouterImageArgs> = {}): RouterImageArgs => ({
        registryServer: registry.host,
        buildContextDir: context,
        ...extra,
    });

    test("args: every problem at once, before anything is registered", () => {
        const before = resources.length;
        assert.throws(
            () =>
                routerImage("bad", {
                    registryServer: "https://host/with/path",
                    registryUsername: "u",
                    baseImage: "Not A Reference",
                    platform: "amd64",
                    buildContextDir: work, // no Dockerfile / router.js there
                    lookupTimeoutMs: 5,
                }),
            (e: unknown) => {
                assert.ok(e instanceof ValidationError);
                assert.deepEqual(e.problems.map((p) => p.field).sort(), [
                    "baseImage",
                    "buildContextDir",
                    "lookupTimeoutMs",
                    "platform",
                    "registryPassword",
                    "registryServer",
                ]);
                return true;
            },
        );
        assert.equal(resources.length, before);
    });

    describe("update", () => {
        before(() => useMocks(false));

        test("hit: no docker.Image, imageRef pinned to the digest in the registry", async () => {
            const { tag } = resolveRouterImageArgs(args());
            const pushed = await pushTestImage(registry.url, routerImageRepository, tag);
            const img = routerImage("hit", args());
            assert.equal(img.tag, tag);
            assert.equal(
                await value(img.imageRef),
                `${registry.host}/amlaks/router@${pushed.digest}`,
            );
            assert.equal(await value(img.cacheHit), true);
            assert.deepEqual(builds("hit"), []);
            assert.ok(
                logs.some((l) =>
                    l.includes(`router image amlaks/router:${tag} found in ${registry.host}`),
                ),
                logs.join("\n"),
            );
        });

        test("miss: one docker.Image building the packaged context with BASE_IMAGE and pushing by content tag", async () => {
            // Another bundle → another tag, absent from the registry.
            await fsp.writeFile(path.join(context, "router.js"), "// bundle v2\n");
            const { tag, hash } = resolveRouterImageArgs(args({ platform: "linux/arm64" }));
            const img = routerImage(
                "miss",
                args({
                    platform: "linux/arm64",
                    baseImage: "registry.example/base/node:22",
                }),
            );
            assert.notEqual(img.tag, tag, "the base image is part of the tag");
            assert.equal(
                await value(img.imageRef),
                `${registry.host}/amlaks/router@${MOCK_DIGEST}`,
            );
            assert.equal(await value(img.cacheHit), false);
            const [b, ...more] = builds("miss");
            assert.deepEqual(more, []);
            assert.deepEqual(b.inputs, {
                imageName: `${registry.host}/amlaks/router:${img.tag}`,
                build: {
                    context,
                    dockerfile: path.join(context, "Dockerfile"),
                    platform: "linux/arm64",
                    args: { BASE_IMAGE: "registry.example/base/node:22" },
                },
                registry: { server: registry.host },
                buildOnPreview: false,
                skipPush: false,
            });
            assert.match(hash, /^[0-9a-f]{64}$/);
            assert.ok(
                logs.some((l) =>
                    l.includes(
                        `router image amlaks/router:${img.tag} not found in ${registry.host}; building and pushing it`,
                    ),
                ),
            );
        });

        test("unchanged context: the same tag, and the default base image is the build arg", async () => {
            const one = routerImage("again-1", args());
            const two = routerImage("again-2", args({ registryServer: `http://${registry.host}` }));
            assert.equal(one.tag, two.tag);
            await Promise.all([value(one.imageRef), value(two.imageRef)]);
            const [a] = builds("again-1");
            const [b] = builds("again-2");
            assert.deepEqual(a.inputs, b.inputs);
            assert.deepEqual((a.inputs.build as { args: unknown }).args, {
                BASE_IMAGE: CLUSTER_DEFAULTS.routerBaseImage,
            });
        });

        test("credentials: the build's registry block is secret, imageRef is not", async () => {
            const img = routerImage(
                "creds",
                args({
                    registryServer: secured.host,
                    registryUsername: "pusher",
                    registryPassword: "s3cret-pass-value",
                }),
            );
            assert.equal(await value(img.cacheHit), false);
            assert.equal(await pulumi.isSecret(img.imageRef), false);
            const reg = builds("creds")[0].inputs.registry as Record<string, unknown>;
            assert.equal(reg[pulumi.runtime.specialSigKey], pulumi.runtime.specialSecretSig);
            assert.deepEqual(reg.value, {
                server: secured.host,
                username: "pusher",
                password: "s3cret-pass-value",
            });
        });

        test("rejected credentials fail the update with registry, repository and status, never the password", async (t) => {
            // Pulumi reports a failed output as unhandled rejections too (a real program fails
            // with them): collect and check those instead of leaving them to the test runner.
            const saved = process.listeners("unhandledRejection");
            const stray: unknown[] = [];
            process.removeAllListeners("unhandledRejection");
            process.on("unhandledRejection", (e) => stray.push(e));
            t.after(async () => {
                await new Promise((r) => setTimeout(r, 200));
                process.removeAllListeners("unhandledRejection");
                for (const l of saved) process.on("unhandledRejection", l);
                for (const e of stray) {
                    assert.match(String(e), /HTTP 401/);
                    assert.ok(!String(e).includes("wrong-password-value"));
                }
            });
            const img = routerImage(
                "denied",
                args({
                    registryServer: secured.host,
                    registryUsername: "pusher",
                    registryPassword: "wrong-password-value",
                }),
            );
            const failed = (e: Error): boolean => {
                assert.match(e.message, new RegExp(`${secured.host}/amlaks/router:${img.tag}`));
                assert.match(e.message, /HTTP 401/);
                assert.ok(!e.message.includes("wrong-password-value"));
                return true;
            };
            await assert.rejects(value(img.imageRef), failed);
            await assert.rejects(value(img.cacheHit), failed);
            assert.deepEqual(builds("denied"), []);
        });
    });

    describe("preview", () => {
        before(() => useMocks(true));

        test("runs as a preview", () => {
            assert.equal(pulumi.runtime.isDryRun(), true);
        });

        test("miss: the docker.Image is shown with buildOnPreview false and no digest yet", async () => {
            await fsp.writeFile(path.join(context, "router.js"), "// bundle v3\n");
            const img = routerImage("pmiss", args());
            assert.equal(await value(img.cacheHit), false);
            assert.equal(await value(img.imageRef), undefined);
            const [b, ...more] = builds("pmiss");
            assert.deepEqual(more, []);
            assert.equal(b.inputs.buildOnPreview, false);
            assert.equal(b.inputs.imageName, `${registry.host}/amlaks/router:${img.tag}`);
            assert.ok(
                logs.some((l) =>
                    l.includes(
                        `router image amlaks/router:${img.tag} not found in ${registry.host}; the update will build it`,
                    ),
                ),
            );
        });

        test("hit: the lookup runs in preview too, so the pinned reference is known", async () => {
            const { tag } = resolveRouterImageArgs(args());
            const pushed = await pushTestImage(registry.url, routerImageRepository, tag);
            const img = routerImage("phit", args());
            assert.equal(
                await value(img.imageRef),
                `${registry.host}/amlaks/router@${pushed.digest}`,
            );
            assert.deepEqual(builds("phit"), []);
        });

        test("an unreachable registry shows the build with a warning instead of failing the preview", async () => {
            const closed = `127.0.0.1:${await freePort()}`;
            const img = routerImage("pdown", args({ registryServer: closed }));
            assert.equal(await value(img.cacheHit), false);
            assert.equal(await value(img.imageRef), undefined);
            assert.equal(builds("pdown").length, 1);
            assert.ok(
                warnings.some(
                    (w) =>
                        w.includes("router image lookup failed during preview") &&
                        w.includes("connection refused"),
                ),
                warnings.join("\n"),
            );
        });
    });

    test("plan messages", () => {
        const tag = "0123456789abcdef0123456789abcdef";
        assert.equal(
            describeRouterImagePlan(
                tag,
                { found: true, digest: "sha256:1", registry: "a.io" },
                "a.io",
                false,
            ),
            `router image amlaks/router:${tag} found in a.io (sha256:1); no build`,
        );
        assert.match(
            describeRouterImagePlan(tag, { found: false }, "a.io", true),
            /nothing is built during preview/,
        );
    });
});
