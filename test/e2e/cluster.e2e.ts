/**
 * The launcher itself: a real control plane reporting its real version, Deployments becoming Ready
 * through the scheduler and kwok, a model server reachable at a pod's address through a test host,
 * and nothing left running after stop.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { POD_CIDR, SERVICE_CIDR } from "./cluster/control-plane";
import { isAlive } from "./cluster/processes";
import { createTestHost, inCidr, type TestHost } from "./cluster/test-hosts";
import { type E2e, eventually, REPO, setupE2e } from "./support";

let e2e: E2e;
let host: TestHost | undefined;

before(async () => {
    e2e = await setupE2e("cluster", { pulumi: false });
});
after(async () => {
    host?.remove();
    await e2e?.cleanup();
});

function kubernetesVersion(): string {
    const mod = execFileSync("go", ["list", "-m", "-f", "{{.Version}}", "k8s.io/kubernetes"], {
        cwd: join(REPO, "tools", "kubernetes"),
        encoding: "utf8",
    });
    return mod.trim();
}

describe("control plane", () => {
    test("the API server reports the version it was built from", () => {
        assert.equal(e2e.cluster.version, kubernetesVersion());
    });

    test("every component runs on 127.0.0.1 and the kubeconfig points there", () => {
        assert.match(e2e.cluster.server, /^https:\/\/127\.0\.0\.1:\d+$/);
        for (const p of e2e.cluster.processes)
            assert.ok(isAlive(p.pid), `${p.name} is not running`);
    });

    let podIp = "";
    test("a Deployment becomes Ready: controller-manager, scheduler and kwok at work", async () => {
        const apps = e2e.kc.makeApiClient(k8s.AppsV1Api);
        const core = e2e.kc.makeApiClient(k8s.CoreV1Api);
        await apps.createNamespacedDeployment({
            namespace: "default",
            body: {
                metadata: { name: "probe" },
                spec: {
                    replicas: 2,
                    selector: { matchLabels: { app: "probe" } },
                    template: {
                        metadata: { labels: { app: "probe" } },
                        spec: {
                            containers: [{ name: "c", image: "registry.e2e.invalid/probe:1" }],
                        },
                    },
                },
            },
        });
        await eventually("2 ready replicas", 60_000, async () => {
            const d = await apps.readNamespacedDeployment({ name: "probe", namespace: "default" });
            return d.status?.readyReplicas === 2 ? true : undefined;
        });
        const pods = await core.listNamespacedPod({
            namespace: "default",
            labelSelector: "app=probe",
        });
        const ips = pods.items.map((p) => p.status?.podIP ?? "");
        for (const ip of ips) assert.ok(inCidr(ip, POD_CIDR), `pod IP ${ip} outside ${POD_CIDR}`);
        podIp = ips[0]!;
        const svc = await core.createNamespacedService({
            namespace: "default",
            body: {
                metadata: { name: "probe" },
                spec: { selector: { app: "probe" }, ports: [{ port: 80 }] },
            },
        });
        assert.ok(inCidr(svc.spec!.clusterIP!, SERVICE_CIDR), `ClusterIP ${svc.spec!.clusterIP}`);
    });

    test("a test host at the pod's address serves real traffic (model harness inside its namespace)", async () => {
        assert.ok(podIp, "needs the pod IP of the previous test");
        host = createTestHost("e2eprobe", podIp);
        const sample = join(REPO, "examples", "sample");
        const server = host.run("python3", [join(REPO, "runtime", "python", "amlserver.py")], {
            ...process.env,
            SERVER_PORT: "5001",
            SERVER_HOST: podIp,
            AZUREML_SOURCE_DIRECTORY: sample,
            AZUREML_ENTRY_SCRIPT: "score.py",
            AZUREML_MODEL_DIR: join(sample, "model"),
        });
        let log = "";
        server.stderr?.on("data", (d: Buffer) => (log += d.toString()));
        const url = `http://${podIp}:5001`;
        await eventually(`harness at ${url}`, 30_000, async () =>
            (await fetch(`${url}/`)).ok ? true : undefined,
        ).catch((e: unknown) => {
            throw new Error(`${String(e)}\nharness output:\n${log}`);
        });
        const data = [
            [0.0381, 0.0507, 0.0617, 0.0219, -0.0442, -0.0348, -0.0434, -0.0026, 0.0199, -0.0176],
        ];
        const r = await fetch(`${url}/score`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ data }),
        });
        assert.equal(r.status, 200);
        const [prediction] = (await r.json()) as number[];
        assert.ok(Math.abs(prediction! - 182.68082262676546) < 1e-6, String(prediction));
    });

    test("stop ends every process it started", async () => {
        const pids = e2e.cluster.processes.map((p) => p.pid);
        await e2e.cluster.stop();
        for (const pid of pids) assert.ok(!isAlive(pid), `pid ${pid} still running`);
    });
});

/** Starts fixtures/own-cluster.ts and resolves with the PIDs of the control plane it started. */
function ownCluster(
    stateDir: string,
): Promise<{ pids: number[]; kill: (sig: NodeJS.Signals) => void; exited: Promise<void> }> {
    const child = spawn(
        process.execPath,
        ["--import", "tsx", join(__dirname, "fixtures", "own-cluster.ts"), stateDir],
        {
            stdio: ["ignore", "pipe", "inherit"],
        },
    );
    const exited = new Promise<void>((r) => child.on("exit", () => r()));
    return new Promise((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
            out += d.toString();
            const line = out.split("\n").find((l) => l.startsWith("["));
            if (line)
                resolve({ pids: JSON.parse(line) as number[], kill: (s) => child.kill(s), exited });
        });
        child.on("exit", (code) =>
            reject(new Error(`own-cluster exited ${code} before starting: ${out}`)),
        );
    });
}

describe("no control plane outlives its owner", () => {
    for (const signal of ["SIGKILL", "SIGINT"] as const) {
        test(`owner killed with ${signal}: every process it started is gone`, async () => {
            const dir = mkdtempSync(join(tmpdir(), "amlaks-e2e-owner-"));
            try {
                const owner = await ownCluster(join(dir, "cluster"));
                assert.equal(owner.pids.length, 5);
                for (const pid of owner.pids) assert.ok(isAlive(pid));
                owner.kill(signal);
                await owner.exited;
                await eventually("children gone", 10_000, async () =>
                    owner.pids.every((p) => !isAlive(p)) ? true : undefined,
                );
            } finally {
                rmSync(dir, { recursive: true, force: true });
            }
        });
    }
});
