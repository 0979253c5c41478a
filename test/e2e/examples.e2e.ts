/**
 * The programs users copy that need no Azure: examples/local-cluster, examples/multi-model and the
 * README's component example, run as they are (only stack config differs) through preview, up,
 * preview --expect-no-changes and destroy. The README example is taken from README.md itself and
 * imports the built package (`@amlaks/pulumi-aml-aks` -> dist/), as a user's program would.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
    cpSync,
    existsSync,
    mkdirSync,
    readFileSync,
    rmSync,
    symlinkSync,
    writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { changes, Stack } from "./pulumi/stack";
import type * as k8s from "@kubernetes/client-node";
import { type E2e, MODEL_IMAGE, newKey, readObject, REPO, ROUTER_IMAGE, setupE2e } from "./support";

let e2e: E2e;
before(async () => {
    e2e = await setupE2e("examples");
});
after(async () => {
    await e2e?.cleanup();
    // `pulumi stack init` writes the stack's encryption salt next to the program.
    for (const example of ["local-cluster", "multi-model"]) {
        rmSync(join(REPO, "examples", example, "Pulumi.e2e.yaml"), { force: true });
    }
});

/**
 * preview (a plan of creates), up, `afterUp` (checks of what the stack created), a no-change
 * preview, destroy to an empty stack.
 */
async function lifecycle(stack: Stack, afterUp?: () => Promise<void>): Promise<void> {
    const planned = changes(await stack.previewSteps());
    assert.ok(
        planned.length > 0 && planned.every((s) => s.op === "create"),
        JSON.stringify(planned),
    );
    const up = await stack.up();
    assert.equal(up.code, 0, up.stdout + up.stderr);
    await afterUp?.();
    const again = await stack.run(["preview", "--expect-no-changes"]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const down = await stack.run(["destroy", "--yes", "--skip-preview"]);
    assert.equal(down.code, 0, down.stdout + down.stderr);
    const left = (await stack.resources()).filter((r) => r.type !== "pulumi:pulumi:Stack");
    assert.deepEqual(left, []);
}

/** The README's runnable component example: the ```ts block that reads `kubeconfig` from config. */
export function readmeExample(readme: string): string {
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const found = blocks.filter((b) => b.includes('config.requireSecret("kubeconfig")'));
    if (found.length !== 1)
        throw new Error(`expected one runnable ts block in README.md, found ${found.length}`);
    return found[0]!;
}

describe("examples/local-cluster", () => {
    test("preview, up, no-change preview, destroy", async () => {
        const stack = new Stack(e2e.engine, join(REPO, "examples", "local-cluster"), "e2e");
        await stack.init({ routerImage: ROUTER_IMAGE }, { kubeconfig: e2e.cluster.kubeconfig });
        await lifecycle(stack);
    });
});

describe("examples/multi-model", () => {
    test("preview, up (three models in one Deployment, the given image and keys), no-change preview, destroy", async () => {
        const stack = new Stack(e2e.engine, join(REPO, "examples", "multi-model"), "e2e");
        const primaryKey = newKey();
        await stack.init(
            { routerImage: ROUTER_IMAGE, imageRef: MODEL_IMAGE },
            { kubeconfig: e2e.cluster.kubeconfig, primaryKey, secondaryKey: newKey() },
        );
        await lifecycle(stack, async () => {
            const out = await stack.outputs();
            assert.deepEqual(out, {
                modelDir: "/var/azureml-app/azureml-models",
                primaryKey,
                routerNamespace: "azureml",
                scoringPath: "/api/v1/service/diabetes-models/score",
            });
            const d = (await readObject(e2e.kc, {
                apiVersion: "apps/v1",
                kind: "Deployment",
                name: "diabetes-models",
                namespace: "azureml-services",
            })) as k8s.V1Deployment | undefined;
            const container = d?.spec?.template.spec?.containers[0];
            assert.equal(container?.image, MODEL_IMAGE);
            const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
            assert.equal(env.AZUREML_MODEL_DIR, "/var/azureml-app/azureml-models");
            assert.equal(d?.status?.readyReplicas, 1);
            const secret = (await readObject(e2e.kc, {
                apiVersion: "v1",
                kind: "Secret",
                name: "diabetes-models-auth",
                namespace: "azureml-services",
            })) as k8s.V1Secret | undefined;
            assert.equal(
                Buffer.from(secret?.data?.primaryKey ?? "", "base64").toString(),
                primaryKey,
            );
        });
    });
});

describe("README component example", () => {
    const root = join(REPO, ".tmp", "e2e-readme");
    after(() => rmSync(root, { recursive: true, force: true }));

    test("runs as written against the built package", async () => {
        assert.ok(
            existsSync(join(REPO, "dist", "index.js")),
            "run `npm run build` first: the example imports dist/",
        );
        rmSync(root, { recursive: true, force: true });
        const program = join(root, "program");
        mkdirSync(join(program, "src"), { recursive: true });
        mkdirSync(join(root, "node_modules", "@amlaks"), { recursive: true });
        symlinkSync(REPO, join(root, "node_modules", "@amlaks", "pulumi-aml-aks"));
        writeFileSync(
            join(program, "index.ts"),
            readmeExample(readFileSync(join(REPO, "README.md"), "utf8")),
        );
        writeFileSync(
            join(program, "package.json"),
            JSON.stringify({ name: "readme-example", private: true, main: "index.ts" }),
        );
        writeFileSync(
            join(program, "Pulumi.yaml"),
            "name: readme-example\nruntime:\n    name: nodejs\n    options:\n        typescript: true\n",
        );
        // The user's project: the bundled sample's entry script and model.
        const sample = join(REPO, "examples", "sample");
        cpSync(join(sample, "score.py"), join(program, "src", "score.py"));
        cpSync(join(sample, "model"), join(program, "model"), { recursive: true });
        const stack = new Stack(e2e.engine, program, "e2e");
        await stack.init(
            { routerImage: ROUTER_IMAGE, imageRef: MODEL_IMAGE },
            { kubeconfig: e2e.cluster.kubeconfig, primaryKey: newKey(), secondaryKey: newKey() },
        );
        await lifecycle(stack);
    });
});
