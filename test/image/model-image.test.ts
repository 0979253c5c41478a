// ModelImage under Pulumi mocks (update mode), looking up a REAL registry (R14): cache hit → no
// build resource and imageRef pinned by digest; miss → one docker.Image child; invalid args →
// error before any resource.
import { after, before, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ValidationError } from "../../components/common/validation";
import { environmentHash, imageRepository } from "../../components/image/hash";
import {
    ModelImage,
    validateModelImageArgs,
    type ModelImageArgs,
} from "../../components/image/model-image";
import { freePort, pushTestImage, startRegistry, type RegistryHandle } from "../support/docker";

const resources: pulumi.runtime.MockResourceArgs[] = [];
const MOCK_DIGEST = `sha256:${"cd".repeat(32)}`;

pulumi.runtime.setMocks(
    {
        newResource: (args) => {
            resources.push(args);
            if (args.type === "docker:index/image:Image") {
                const name = String(args.inputs.imageName);
                return {
                    id: `${args.name}-id`,
                    state: {
                        ...args.inputs,
                        repoDigest: `${name.slice(0, name.lastIndexOf(":"))}@${MOCK_DIGEST}`,
                    },
                };
            }
            return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
    },
    "amlaks",
    "test",
    false,
);

function value<T>(o: pulumi.Output<T>): Promise<T> {
    return (o as unknown as { promise(): Promise<T> }).promise();
}

function childrenOf(name: string): pulumi.runtime.MockResourceArgs[] {
    return resources.filter(
        (r) => r.type === "docker:index/image:Image" && r.name === `${name}-build`,
    );
}

const CONDA =
    "channels: [conda-forge]\ndependencies:\n  - python=3.10\n  - pip: [azureml-defaults]\n";

describe("ModelImage (update)", () => {
    let workspace: RegistryHandle;
    let global: RegistryHandle;
    let contexts: string;
    const logs: string[] = [];

    before(async () => {
        [workspace, global] = await Promise.all([startRegistry(), startRegistry()]);
        contexts = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-mi-"));
        mock.method(console, "log", (...a: unknown[]) => logs.push(a.join(" ")));
    });
    after(async () => {
        mock.restoreAll();
        await Promise.all([workspace?.stop(), global?.stop()]);
        if (contexts) await fsp.rm(contexts, { recursive: true, force: true });
    });

    const args = (extra: Partial<ModelImageArgs> = {}): ModelImageArgs => ({
        registryServer: workspace.host,
        condaYaml: CONDA,
        buildContextRoot: contexts,
        ...extra,
    });

    test("cache hit in the workspace registry: no build resource, imageRef pinned to the found digest", async () => {
        const a = args({ dockerSteps: "RUN echo hit" });
        const hash = validateModelImageArgs(a).hash;
        const pushed = await pushTestImage(workspace.url, imageRepository(hash), hash);
        const img = new ModelImage("hit", a);
        assert.equal(
            await value(img.imageRef),
            `${workspace.host}/azureml/azureml_${hash}@${pushed.digest}`,
        );
        assert.equal(await value(img.cacheHit), true);
        assert.equal(await value(img.registry), workspace.host);
        assert.equal(await value(img.repository), `${workspace.host}/azureml/azureml_${hash}`);
        assert.equal(await value(img.environmentHash), hash);
        assert.deepEqual(childrenOf("hit"), []);
        assert.ok(
            logs.some((l) =>
                l.includes(`cache hit: azureml/azureml_${hash}:${hash} found in ${workspace.host}`),
            ),
        );
    });

    test("cache hit in a fallback registry: reused by digest from there (R14)", async () => {
        const a = args({
            dockerSteps: "RUN echo fallback",
            fallbackRegistries: [{ server: global.host }],
        });
        const hash = validateModelImageArgs(a).hash;
        const pushed = await pushTestImage(global.url, imageRepository(hash), hash);
        const img = new ModelImage("fallback", a);
        assert.equal(
            await value(img.imageRef),
            `${global.host}/azureml/azureml_${hash}@${pushed.digest}`,
        );
        assert.equal(await value(img.cacheHit), true);
        assert.equal(await value(img.registry), global.host);
        assert.deepEqual(childrenOf("fallback"), []);
    });

    test("cache miss: one docker.Image child that builds and pushes <registry>/azureml/azureml_<hash>:<hash>", async () => {
        const a = args({
            dockerSteps: "RUN echo miss",
            fallbackRegistries: [{ server: global.host }],
        });
        const hash = environmentHash({
            baseImage: "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
            dockerSteps: "RUN echo miss",
            condaYaml: CONDA,
        });
        const img = new ModelImage("miss", a);
        const ref = `${workspace.host}/azureml/azureml_${hash}`;
        assert.equal(await value(img.imageRef), `${ref}@${MOCK_DIGEST}`);
        assert.equal(await value(img.cacheHit), false);
        assert.equal(await value(img.registry), workspace.host);
        await value(img.urn);
        const children = childrenOf("miss");
        assert.equal(children.length, 1);
        const contextDir = path.join(contexts, `env-${hash}`);
        assert.deepEqual(children[0].inputs, {
            imageName: `${ref}:${hash}`,
            build: {
                context: contextDir,
                dockerfile: path.join(contextDir, "Dockerfile"),
                platform: "linux/amd64",
            },
            registry: { server: workspace.host },
            buildOnPreview: false,
            skipPush: false,
        });
        assert.match(
            await fsp.readFile(path.join(contextDir, "Dockerfile"), "utf8"),
            /^FROM mcr\.microsoft\.com\/azureml\/openmpi4\.1\.0-ubuntu22\.04:latest$/m,
        );
        assert.ok(
            logs.some((l) =>
                l.includes(
                    `cache miss: azureml/azureml_${hash}:${hash} not found in ${workspace.host}, ${global.host}; building and pushing to ${workspace.host}`,
                ),
            ),
        );
    });

    test("a second run with unchanged (or formatting-only changed) inputs gives identical build inputs", async () => {
        const one = new ModelImage("again-1", args({ dockerSteps: "RUN echo again" }));
        const two = new ModelImage(
            "again-2",
            args({
                dockerSteps: "RUN echo again\r\n",
                condaYaml:
                    "# same env\ndependencies:\n- python=3.10\n- pip:\n  - azureml-defaults\nchannels:\n- conda-forge\n",
            }),
        );
        await Promise.all([value(one.imageRef), value(two.imageRef)]);
        assert.equal(await value(one.environmentHash), await value(two.environmentHash));
        assert.deepEqual(childrenOf("again-1")[0].inputs, childrenOf("again-2")[0].inputs);
    });

    test("credentials reach the build's registry block; outputs stay non-secret", async () => {
        const img = new ModelImage(
            "creds",
            args({
                dockerSteps: "RUN echo creds",
                registryUsername: "00000000-0000-0000-0000-000000000000",
                registryPassword: "refresh-token-value",
            }),
        );
        assert.equal(await value(img.cacheHit), false);
        assert.equal(await pulumi.isSecret(img.imageRef), false);
        assert.equal(await pulumi.isSecret(img.cacheHit), false);
        // The password makes the registry block a secret (mocks see Pulumi's secret envelope).
        const registry = childrenOf("creds")[0].inputs.registry as Record<string, unknown>;
        assert.equal(registry[pulumi.runtime.specialSigKey], pulumi.runtime.specialSecretSig);
        assert.deepEqual(registry.value, {
            server: workspace.host,
            username: "00000000-0000-0000-0000-000000000000",
            password: "refresh-token-value",
        });
    });

    test("condaFile is read and hashed like condaYaml; a missing file is a clear error", async () => {
        const file = path.join(contexts, "env.yml");
        await fsp.writeFile(file, CONDA);
        const fromFile = validateModelImageArgs(args({ condaYaml: undefined, condaFile: file }));
        assert.equal(fromFile.hash, validateModelImageArgs(args()).hash);
        assert.throws(
            () =>
                new ModelImage(
                    "nofile",
                    args({ condaYaml: undefined, condaFile: path.join(contexts, "nope.yml") }),
                ),
            /condaFile: ".*nope\.yml" cannot be read \(ENOENT\)/,
        );
    });

    test("invalid args: every problem at once, thrown before any resource is registered", async () => {
        const before = resources.length;
        let err: unknown;
        try {
            new ModelImage("bad", {
                registryServer: "myacr.azurecr.io/with/path",
                registryUsername: "user",
                fallbackRegistries: [{ server: "" }],
                baseImage: "Not Valid",
                dockerSteps: "FROM ubuntu",
                condaYaml: "dependencies: [",
                condaFile: "/x.yml",
                pipPackages: [""],
                platform: "x86",
                lookupTimeoutMs: 5,
            });
        } catch (e) {
            err = e;
        }
        assert.ok(err instanceof ValidationError, String(err));
        assert.deepEqual(
            err.problems.map((p) => p.field),
            [
                "registryServer",
                "registryPassword",
                "fallbackRegistries[0].server",
                "condaFile",
                "baseImage",
                "dockerSteps",
                "condaYaml",
                "pipPackages[0]",
                "platform",
                "lookupTimeoutMs",
            ],
        );
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(resources.length, before);
        assert.ok(!resources.some((r) => r.name === "bad" || r.name === "bad-build"));
    });

    test("an unreachable workspace registry fails the lookup with a clear error", async (t) => {
        // Pulumi reports a failed output as unhandled rejections (a real program fails with them);
        // catch those here instead of letting the test runner report them as stray activity.
        const saved = process.listeners("unhandledRejection");
        const stray: unknown[] = [];
        process.removeAllListeners("unhandledRejection");
        process.on("unhandledRejection", (e) => stray.push(e));
        t.after(async () => {
            await new Promise((r) => setTimeout(r, 200));
            process.removeAllListeners("unhandledRejection");
            for (const l of saved) process.on("unhandledRejection", l);
            for (const e of stray) assert.match(String(e), /connection refused/);
        });
        const closed = `127.0.0.1:${await freePort()}`;
        const img = new ModelImage(
            "down",
            args({
                registryServer: closed,
                dockerSteps: "RUN echo down",
                registryUsername: "u",
                registryPassword: "pw-do-not-echo",
            }),
        );
        await assert.rejects(value(img.imageRef), (e: Error) => {
            assert.match(
                e.message,
                new RegExp(`connection refused by http://${closed.replace(/\./g, "\\.")}`),
            );
            assert.ok(!e.message.includes("pw-do-not-echo"));
            return true;
        });
        assert.deepEqual(childrenOf("down"), []);
    });
});
