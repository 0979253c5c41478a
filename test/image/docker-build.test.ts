// Generated build contexts built by a real Docker engine (docs/design.md §8): the environment image
// (from a local busybox base, conda/pip step off: no package index here), pushed to a real registry
// and found by the lookup with the digest the push produced; then the thin app layer on top of it,
// run to check where the code and models landed (aml-v1-spec §5).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderAppLayerContext, renderEnvironmentContext } from "../../components/image/context";
import { imageRepository, imageTag } from "../../components/image/hash";
import { findImage, lookupManifest } from "../../components/image/registry";
import {
    importBusyboxImage,
    startDockerd,
    startRegistry,
    type DockerHandle,
    type RegistryHandle,
} from "../support/docker";

const BASE = "amlaks-test/busybox:1";

describe("environment image and app layer with a real Docker engine", () => {
    let dockerd: DockerHandle;
    let registry: RegistryHandle;
    let work: string;
    let envRef = "";
    let envDigest = "";
    let hash = "";

    before(async () => {
        work = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-build-"));
        [dockerd, registry] = await Promise.all([startDockerd(), startRegistry()]);
        await importBusyboxImage(dockerd, BASE);
    });
    after(async () => {
        await Promise.all([dockerd?.stop(), registry?.stop()]);
        if (work) await fsp.rm(work, { recursive: true, force: true });
    });

    test("builds the environment context, pushes it, and the lookup finds the pushed digest", async () => {
        const ctx = renderEnvironmentContext(path.join(work, "env"), {
            baseImage: BASE,
            dockerSteps: "RUN echo from-docker-steps > /etc/amlaks-step\nENV STEP_VAR=1",
            condaYaml: "dependencies:\n  - python=3.10\n",
            installEnvironment: false,
        });
        hash = ctx.environmentHash;
        const repo = imageRepository(hash);
        envRef = `${registry.host}/${repo}:${imageTag(hash)}`;

        assert.equal(
            (await lookupManifest({ server: registry.host }, repo, imageTag(hash))).found,
            false,
        );
        await dockerd.docker([
            "build",
            "--network",
            "none",
            "-t",
            envRef,
            "-f",
            path.join(ctx.directory, ctx.dockerfile),
            ctx.directory,
        ]);
        await dockerd.docker(["push", envRef]);
        const repoDigests = JSON.parse(
            await dockerd.docker(["image", "inspect", "--format", "{{json .RepoDigests}}", envRef]),
        ) as string[];
        const pushedRef = repoDigests.find((r) => r.startsWith(`${registry.host}/${repo}@`));
        assert.ok(pushedRef, `no repo digest for ${registry.host}: ${repoDigests.join(", ")}`);
        envDigest = pushedRef.slice(pushedRef.indexOf("@") + 1);

        const found = await findImage({ server: registry.host }, [], repo, imageTag(hash));
        assert.equal(found.found, true);
        assert.equal(found.digest, envDigest);
        assert.equal(found.imageRef, pushedRef);

        const config = JSON.parse(
            await dockerd.docker(["image", "inspect", "--format", "{{json .Config}}", envRef]),
        ) as {
            Env: string[];
            ExposedPorts: Record<string, unknown>;
            WorkingDir: string;
            Labels: Record<string, string>;
        };
        assert.ok(config.Env.includes("SERVER_PORT=5001"));
        assert.ok(config.Env.includes("AML_APP_ROOT=/var/azureml-app"));
        assert.ok(config.Env.includes("STEP_VAR=1"));
        assert.ok(
            !config.Env.some(
                (e) => e.startsWith("AZUREML_ENTRY_SCRIPT=") || e.startsWith("AZUREML_MODEL_DIR="),
            ),
        );
        assert.deepEqual(Object.keys(config.ExposedPorts), ["5001/tcp"]);
        assert.equal(config.WorkingDir, "/var/azureml-app");
        assert.equal(config.Labels["com.amlaks.environment-hash"], hash);

        // R13: the environment image holds no code and no models.
        const listing = await dockerd.docker([
            "run",
            "--rm",
            "--network",
            "none",
            envRef,
            "sh",
            "-c",
            "cat /etc/amlaks-step; ls -A /var/azureml-app | wc -l",
        ]);
        assert.equal(listing, "from-docker-steps\n0\n");
    });

    test("the app layer puts the snapshot in /var/azureml-app and the models under AZUREML_MODEL_DIR", async () => {
        assert.ok(envDigest, "the environment image test must run first");
        const src = path.join(work, "src");
        await fsp.mkdir(path.join(src, "lib"), { recursive: true });
        await fsp.writeFile(path.join(src, "score.py"), "def init():\n    pass\n");
        await fsp.writeFile(path.join(src, "lib", "util.py"), "X = 1\n");
        await fsp.writeFile(path.join(src, "secret.env"), "KEY=1\n");
        await fsp.writeFile(path.join(src, ".amlignore"), "*.env\n");
        const models = path.join(work, "models");
        await fsp.mkdir(path.join(models, "enc"), { recursive: true });
        await fsp.writeFile(path.join(models, "clf.pkl"), "weights");
        await fsp.writeFile(path.join(models, "enc", "vocab.txt"), "a b c");

        const ctx = await renderAppLayerContext({
            directory: path.join(work, "app"),
            environmentImage: `${registry.host}/${imageRepository(hash)}@${envDigest}`,
            sourceDirectory: src,
            entryScript: "score.py",
            models: ["clf.pkl", { path: "enc", name: "encoder", version: 2 }],
            modelsBaseDir: models,
        });
        const appRef = `${registry.host}/amlaks-test/app:${ctx.hash.slice(0, 16)}`;
        await dockerd.docker(["build", "--network", "none", "-t", appRef, ctx.directory]);
        const out = await dockerd.docker([
            "run",
            "--rm",
            "--network",
            "none",
            appRef,
            "sh",
            "-c",
            'echo "$AZUREML_ENTRY_SCRIPT|$AZUREML_MODEL_DIR|$SERVER_PORT"; cd /var/azureml-app && find . -type f | sort; cat "$AZUREML_MODEL_DIR/clf/1/clf.pkl"',
        ]);
        assert.equal(
            out,
            [
                "score.py|/var/azureml-app/azureml-models|5001",
                "./.amlignore",
                "./azureml-models/clf/1/clf.pkl",
                "./azureml-models/encoder/2/enc/vocab.txt",
                "./lib/util.py",
                "./score.py",
                "weights",
            ].join("\n"),
        );
    });
});
