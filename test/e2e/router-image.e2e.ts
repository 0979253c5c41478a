// The router image end to end with a real Docker engine and a real registry
// (R18, docs/design.md §8): bundle the router (the step `npm run build` runs), build router/Dockerfile on a local
// stand-in for the distroless Node.js base, push it under the content-hash tag `routerImage()`
// looks up, pull it back by digest, and run it the way the cluster runs it (uid 65532, read-only
// root, writable /tmp only) with the static backend: a score request through the container reaches
// a replica on 127.0.0.1 and its answer comes back; SIGTERM stops it cleanly.
//
// The base image is built from this host's Node.js (no network here): /nodejs/bin/node as in
// distroless, the shared libraries `ldd` lists, passwd/group entries for nonroot (65532), /tmp.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { promises as fsp, readFileSync, realpathSync } from "node:fs";
import { builtinModules } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import * as tar from "tar-stream";
import {
    resolveRouterImageArgs,
    routerImageRepository,
} from "../../components/cluster/router-image";
import { findImage } from "../../components/image/registry";
import { ROUTER_LEASE_NAME } from "../../components/cluster/router-rbac";
import {
    renderRouterObjects,
    type RouterRenderConfig,
} from "../../components/cluster/router-install";
import {
    renderAuthSecret,
    renderDeployment,
    renderService,
} from "../../components/webservice/render";
import { modelServiceInput } from "../support/model-service";
import * as k8s from "@kubernetes/client-node";
import { serviceAccountKubeconfig } from "./cluster/kubelet";
import { createTestHost, type TestHost } from "./cluster/test-hosts";
import { eventually, setupE2e } from "./support";
import { ReplicaServer } from "../support/replica-server";
import {
    freePort,
    requireTool,
    startDockerd,
    startRegistry,
    type DockerHandle,
    type RegistryHandle,
} from "../support/docker";

const REPO_ROOT = path.join(__dirname, "..", "..");
const BASE_IMAGE = "amlaks-test/node-base:1";
const KEY = "k-0123456789abcdefghijklmnopqrstuv";
const CONTAINER = `amlaks-router-e2e-${process.pid}`;
/** Node.js built-in module ids, which a bundle may require without the `node:` prefix. */
const BUILTINS = new Set(builtinModules);

/** Absolute paths of the shared libraries (and loader) `ldd` lists for `binary`. */
function sharedLibraries(binary: string): string[] {
    const ldd = requireTool("ldd", "libc-bin");
    const r = spawnSync(ldd, [binary], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ldd ${binary} failed: ${r.stderr}`);
    const libs: string[] = [];
    for (const line of r.stdout.split("\n")) {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
        if (m) libs.push(m[1]);
    }
    if (!libs.some((l) => l.includes("ld-linux"))) {
        throw new Error(`ldd ${binary} listed no program loader:\n${r.stdout}`);
    }
    return libs;
}

/**
 * Imports a distroless-like Node.js base image `name`: this host's node binary at
 * /nodejs/bin/node, its shared libraries at the paths the loader expects, nonroot in
 * /etc/passwd and /etc/group, a sticky /tmp. No shell, no package manager.
 */
async function importNodeBaseImage(d: DockerHandle, name: string): Promise<void> {
    const node = realpathSync(process.execPath);
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    const ended = new Promise<void>((r) => pack.on("end", () => r()));
    const dirs = new Set<string>();
    const add = (h: Partial<tar.Header> & { name: string }, data?: Buffer) =>
        new Promise<void>((resolve, reject) =>
            pack.entry({ mtime: new Date(0), ...h }, data ?? Buffer.alloc(0), (e) =>
                e ? reject(e) : resolve(),
            ),
        );
    const addParents = async (file: string): Promise<void> => {
        const parts = file.split("/").slice(0, -1);
        for (let i = 1; i <= parts.length; i++) {
            const dir = parts.slice(0, i).join("/");
            if (dirs.has(dir)) continue;
            dirs.add(dir);
            await add({ name: `${dir}/`, type: "directory", mode: 0o755 });
        }
    };
    const addFile = async (name: string, data: Buffer, mode: number): Promise<void> => {
        await addParents(name);
        await add({ name, mode }, data);
    };
    await addFile("nodejs/bin/node", readFileSync(node), 0o755);
    // Regular files at the listed paths (symlinks resolved): the loader finds them there.
    for (const lib of sharedLibraries(node)) {
        await addFile(lib.replace(/^\//, ""), readFileSync(realpathSync(lib)), 0o755);
    }
    await addFile(
        "etc/passwd",
        Buffer.from(
            "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
        ),
        0o644,
    );
    await addFile("etc/group", Buffer.from("root:x:0:\nnonroot:x:65532:\n"), 0o644);
    dirs.add("tmp");
    await add({ name: "tmp/", type: "directory", mode: 0o1777 });
    await addParents("home/nonroot/x");
    pack.finalize();
    await ended;
    await d.docker(["import", "--change", "USER 65532:65532", "-", name], {
        input: Buffer.concat(chunks),
        timeoutMs: 300000,
    });
}

async function waitForHealth(url: string, d: DockerHandle, container = CONTAINER): Promise<void> {
    const deadline = Date.now() + 60000;
    for (;;) {
        try {
            const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
            if (res.status === 200) return;
        } catch {
            // not listening yet
        }
        const running = (
            await d.docker(["inspect", "--format", "{{.State.Running}}", container])
        ).trim();
        if (running !== "true" || Date.now() > deadline) {
            const logs = await d.docker(["logs", container]).catch((e: Error) => e.message);
            throw new Error(`router container is not healthy (running=${running}):\n${logs}`);
        }
        await new Promise((r) => setTimeout(r, 200));
    }
}

function mib(bytes: number): string {
    return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

describe("router image: bundle, build, push, run read-only as nonroot", () => {
    let dockerd: DockerHandle;
    let registry: RegistryHandle;
    let replica: ReplicaServer;
    let work: string;
    let context: string;
    let imageRef = "";

    before(async () => {
        work = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-router-image-"));
        [dockerd, registry, replica] = await Promise.all([
            startDockerd(),
            startRegistry(),
            ReplicaServer.start({
                id: "r-e2e",
                behaviour: { body: { prediction: [42], from: "replica r-e2e" } },
            }),
        ]);
        await importNodeBaseImage(dockerd, BASE_IMAGE);
    });
    after(async () => {
        await dockerd?.docker(["rm", "-f", CONTAINER]).catch(() => undefined);
        await Promise.all([dockerd?.stop(), registry?.stop(), replica?.close()]);
        if (work) await fsp.rm(work, { recursive: true, force: true });
    });

    test("the bundle script writes a build context with one router.js and no @pulumi code", () => {
        context = path.join(work, "router-image");
        const r = spawnSync(
            process.execPath,
            [path.join(REPO_ROOT, "scripts", "bundle-router.mjs"), "--outdir", context],
            { cwd: REPO_ROOT, encoding: "utf8" },
        );
        assert.equal(r.status, 0, r.stderr);
        const bundle = readFileSync(path.join(context, "router.js"), "utf8");
        assert.equal(
            readFileSync(path.join(context, "Dockerfile"), "utf8"),
            readFileSync(path.join(REPO_ROOT, "router", "Dockerfile"), "utf8"),
        );
        assert.ok(!/node_modules\/@pulumi\//.test(bundle), "the bundle holds @pulumi code");
        // Self-contained: only Node.js built-ins are required at run time, plus the optional
        // modules ws and node-fetch try inside try/catch (see scripts/bundle-router.mjs).
        const external = [...bundle.matchAll(/\brequire\("([^"]+)"\)/g)]
            .map((m) => m[1])
            .filter((id) => !id.startsWith("node:") && !BUILTINS.has(id))
            .filter((id) => !["bufferutil", "utf-8-validate", "encoding"].includes(id));
        assert.deepEqual([...new Set(external)], []);
    });

    test("builds on the base, pushes under the content-hash tag, and the lookup finds it", async (t) => {
        assert.ok(context, "the bundle test must run first");
        const resolved = resolveRouterImageArgs({
            registryServer: registry.host,
            buildContextDir: context,
            baseImage: BASE_IMAGE,
        });
        const tagged = `${registry.host}/${routerImageRepository}:${resolved.tag}`;
        const before = await findImage(
            { server: registry.host },
            [],
            routerImageRepository,
            resolved.tag,
        );
        assert.equal(before.found, false);

        await dockerd.docker(
            [
                "build",
                "--network",
                "none",
                "--build-arg",
                `BASE_IMAGE=${BASE_IMAGE}`,
                "-t",
                tagged,
                "-f",
                resolved.context.dockerfile,
                resolved.context.dir,
            ],
            { timeoutMs: 300000 },
        );
        await dockerd.docker(["push", tagged], { timeoutMs: 300000 });
        const repoDigests = JSON.parse(
            await dockerd.docker(["image", "inspect", "--format", "{{json .RepoDigests}}", tagged]),
        ) as string[];
        const pushed = repoDigests.find((r) => r.startsWith(`${registry.host}/amlaks/router@`));
        assert.ok(pushed, `no repo digest for ${registry.host}: ${repoDigests.join(", ")}`);

        // What routerImage() does on the next run: a cache hit, pinned by digest.
        const found = await findImage(
            { server: registry.host },
            [],
            routerImageRepository,
            resolved.tag,
        );
        assert.equal(found.found, true);
        assert.equal(found.imageRef, pushed);
        imageRef = pushed;

        const config = JSON.parse(
            await dockerd.docker(["image", "inspect", "--format", "{{json .Config}}", tagged]),
        ) as {
            User: string;
            Entrypoint: string[];
            Env: string[];
            ExposedPorts: Record<string, unknown>;
        };
        assert.equal(config.User, "65532:65532");
        assert.deepEqual(config.Entrypoint, ["/nodejs/bin/node", "/app/router.js"]);
        assert.ok(config.Env.includes("NODE_ENV=production"), config.Env.join(" "));
        assert.deepEqual(Object.keys(config.ExposedPorts).sort(), [
            "8080/tcp",
            "8443/tcp",
            "9090/tcp",
        ]);

        const size = Number(
            await dockerd.docker(["image", "inspect", "--format", "{{.Size}}", tagged]),
        );
        const baseSize = Number(
            await dockerd.docker(["image", "inspect", "--format", "{{.Size}}", BASE_IMAGE]),
        );
        t.diagnostic(
            `router image ${mib(size)} (base ${mib(baseSize)} + router layer ${mib(size - baseSize)})`,
        );
        // The router adds the bundle and nothing else.
        const bundleSize = (await fsp.stat(resolved.context.bundle)).size;
        assert.ok(
            size - baseSize <= bundleSize + 64 * 1024,
            `router layer ${size - baseSize} B for a ${bundleSize} B bundle`,
        );

        // The cluster pulls by digest: drop the local copy and pull exactly that.
        await dockerd.docker(["rmi", tagged]);
        await dockerd.docker(["pull", pushed], { timeoutMs: 300000 });
    });

    test("runs read-only as 65532 with the static backend: score through the container, healthz, clean SIGTERM", async () => {
        assert.ok(imageRef, "the build test must run first");
        const services = path.join(work, "services.yaml");
        await fsp.writeFile(
            services,
            [
                "services:",
                `  - settings: { name: sample, primaryKey: ${KEY} }`,
                `    replicas: [{ id: r-e2e, url: '${replica.url}' }]`,
            ].join("\n"),
        );
        await fsp.chmod(services, 0o644);
        const port = await freePort();
        await dockerd.docker([
            "run",
            "-d",
            "--name",
            CONTAINER,
            "--network",
            "host",
            "--read-only",
            "--user",
            "65532:65532",
            "--tmpfs",
            "/tmp",
            "-e",
            "ROUTER_BACKEND=static",
            "-e",
            "ROUTER_SERVICES_FILE=/etc/amlaks/services.yaml",
            "-e",
            "ROUTER_HOST=127.0.0.1",
            "-e",
            `ROUTER_HTTP_PORT=${port}`,
            "-v",
            `${services}:/etc/amlaks/services.yaml:ro`,
            imageRef,
        ]);
        const url = `http://127.0.0.1:${port}`;
        await waitForHealth(url, dockerd);

        const payload = JSON.stringify({ data: [[1, 2, 3]] });
        const res = await fetch(`${url}/api/v1/service/sample/score`, {
            method: "POST",
            headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
            body: payload,
        });
        assert.equal(res.status, 200, await res.clone().text());
        assert.deepEqual(await res.json(), { prediction: [42], from: "replica r-e2e" });
        assert.equal(replica.scored.length, 1);
        assert.equal(replica.scored[0].bodyBytes, Buffer.byteLength(payload));

        const denied = await fetch(`${url}/api/v1/service/sample/score`, {
            method: "POST",
            headers: { authorization: "Bearer wrong-key", "content-type": "application/json" },
            body: payload,
        });
        assert.equal(denied.status, 401);
        await denied.body?.cancel();
        assert.equal(replica.scored.length, 1);

        await dockerd.docker(["stop", "--time", "20", CONTAINER], { timeoutMs: 60000 });
        const state = JSON.parse(
            await dockerd.docker(["inspect", "--format", "{{json .State}}", CONTAINER]),
        ) as { ExitCode: number; OOMKilled: boolean };
        const logs = await dockerd.docker(["logs", CONTAINER]);
        assert.equal(state.ExitCode, 0, logs);
        assert.match(logs, /"msg":"stopping router"/);
        assert.ok(!logs.includes(KEY), "the key reached the logs");
    });
});

describe("router image against the real API server (ROUTER_BACKEND=kubernetes, --network host)", () => {
    test("discovers a rendered model service with its own RBAC only, takes the Lease and serves the model at its pod address", async () => {
        const e2e = await setupE2e("router-image-k8s", { pulumi: false });
        const [dockerd, work] = await Promise.all([
            startDockerd(),
            fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-router-image-k8s-")),
        ]);
        const container = `${CONTAINER}-k8s`;
        let host: TestHost | undefined;
        try {
            await importNodeBaseImage(dockerd, BASE_IMAGE);
            const context = path.join(work, "context");
            const bundled = spawnSync(
                process.execPath,
                [path.join(REPO_ROOT, "scripts", "bundle-router.mjs"), "--outdir", context],
                { encoding: "utf8" },
            );
            assert.equal(bundled.status, 0, bundled.stderr);
            const image = "amlaks-test/router:k8s";
            await dockerd.docker(
                ["build", "--build-arg", `BASE_IMAGE=${BASE_IMAGE}`, "-t", image, context],
                { timeoutMs: 300000 },
            );

            // What AksInferenceCluster installs, minus the router Deployment (Docker runs it).
            const cfg: RouterRenderConfig = {
                namespace: "azureml",
                purpose: "DevTest",
                image,
                tls: false,
                serviceType: "ClusterIP",
                loadBalancerType: "PublicIp",
                azureAnnotations: false,
                serviceNamespaces: ["azureml-services"],
                createServiceNamespace: true,
            };
            const objects = k8s.KubernetesObjectApi.makeApiClient(e2e.kc);
            for (const { kind, object } of renderRouterObjects(cfg)) {
                if (["Namespace", "ServiceAccount", "Role", "RoleBinding"].includes(kind)) {
                    await objects.create(object as k8s.KubernetesObject);
                }
            }
            const sample = path.join(REPO_ROOT, "examples", "sample");
            const input = modelServiceInput({}, { primaryKey: KEY, secondaryKey: `${KEY}-2` });
            for (const o of [
                renderAuthSecret(input)!,
                renderDeployment(input),
                renderService(input),
            ]) {
                await objects.create(o as k8s.KubernetesObject);
            }
            // kwok gives the model pod an address; the model harness serves at it.
            const core = e2e.kc.makeApiClient(k8s.CoreV1Api);
            const podIp = await eventually("model pod address", 60_000, async () => {
                const pods = await core.listNamespacedPod({ namespace: "azureml-services" });
                return pods.items[0]?.status?.podIP;
            });
            host = createTestHost("rimgk8s", podIp);
            host.run("python3", [path.join(REPO_ROOT, "runtime", "python", "amlserver.py")], {
                ...process.env,
                SERVER_PORT: "5001",
                SERVER_HOST: podIp,
                AZUREML_SOURCE_DIRECTORY: sample,
                AZUREML_ENTRY_SCRIPT: "score.py",
                AZUREML_MODEL_DIR: path.join(sample, "model"),
            });

            // The router's own ServiceAccount token: only the Roles above apply.
            const kubeconfig = path.join(work, "kubeconfig");
            await fsp.writeFile(
                kubeconfig,
                await serviceAccountKubeconfig(e2e.kc, e2e.cluster.server, {
                    namespace: "azureml",
                    serviceAccountName: "amlaks-router",
                }),
                { mode: 0o644 },
            );
            const [port, metricsPort] = [await freePort(), await freePort()];
            await dockerd.docker([
                "run",
                "-d",
                "--name",
                container,
                "--network",
                "host",
                "--read-only",
                "--user",
                "65532:65532",
                "--tmpfs",
                "/tmp",
                "-v",
                `${kubeconfig}:/etc/amlaks/kubeconfig:ro`,
                "-e",
                "KUBECONFIG=/etc/amlaks/kubeconfig",
                "-e",
                "ROUTER_BACKEND=kubernetes",
                "-e",
                "ROUTER_NAMESPACE=azureml",
                "-e",
                "ROUTER_POD_NAME=amlaks-router-docker",
                "-e",
                "ROUTER_WATCH_NAMESPACES=azureml-services",
                "-e",
                "ROUTER_HOST=127.0.0.1",
                "-e",
                `ROUTER_HTTP_PORT=${port}`,
                "-e",
                `ROUTER_METRICS_PORT=${metricsPort}`,
                image,
            ]);
            const url = `http://127.0.0.1:${port}`;
            await waitForHealth(url, dockerd, container);
            const row = [
                0.0381, 0.0507, 0.0617, 0.0219, -0.0442, -0.0348, -0.0434, -0.0026, 0.0199, -0.0176,
            ];
            const answer = await eventually(
                "the model answers through the container",
                60_000,
                async () => {
                    const res = await fetch(`${url}/api/v1/service/diabetes/score`, {
                        method: "POST",
                        headers: {
                            authorization: `Bearer ${KEY}`,
                            "content-type": "application/json",
                        },
                        body: JSON.stringify({ data: [row] }),
                    });
                    return res.status === 200 ? ((await res.json()) as number[]) : undefined;
                },
            );
            assert.ok(Math.abs(answer[0]! - 182.68082262676546) < 1e-6, String(answer));
            const lease = await e2e.kc
                .makeApiClient(k8s.CoordinationV1Api)
                .readNamespacedLease({ name: ROUTER_LEASE_NAME, namespace: "azureml" });
            assert.equal(lease.spec?.holderIdentity, "amlaks-router-docker");
            const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
            assert.match(metrics, /amlaks_router_scaler_leader 1/);
        } finally {
            const logs = await dockerd.docker(["logs", container]).catch(() => "");
            if (logs.includes(KEY)) assert.fail("the key reached the logs");
            await dockerd.docker(["rm", "-f", container]).catch(() => undefined);
            host?.remove();
            await dockerd.stop();
            await e2e.cleanup();
            await fsp.rm(work, { recursive: true, force: true });
        }
    });
});
