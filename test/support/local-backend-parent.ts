// A parent process for the orphan tests: starts a LocalBackend with REPLICAS fake model servers,
// prints {"pids": [...]} once they are ready, then (PARENT_MODE) waits to be killed ("wait") or
// exits without calling stop() ("exit"). The test then checks the replicas die with it.
import path from "node:path";
import { validateWebserviceSettings } from "../../components/settings";
import { LocalBackend } from "../../router/backends/local";

async function main(): Promise<void> {
    const replicas = Number(process.env.REPLICAS ?? 2);
    const backend = new LocalBackend({
        services: [
            {
                definition: {
                    name: "orphan-test",
                    settings: validateWebserviceSettings({
                        name: "orphan-test",
                        numReplicas: replicas,
                    }),
                    auth: { mode: "none" },
                },
                command: [process.execPath, path.join(__dirname, "fake-model-server.mjs")],
                readinessTimeoutMs: 10_000,
            },
        ],
    });
    await backend.start({
        onService: () => undefined,
        onServiceRemoved: () => undefined,
        onReplicas: () => undefined,
    });
    await backend.firstReady("orphan-test");
    while (backend.replicas("orphan-test").filter((r) => r.state === "ready").length < replicas) {
        await new Promise((r) => setTimeout(r, 50));
    }
    const pids = backend.replicas("orphan-test").map((r) => r.pid);
    process.stdout.write(`${JSON.stringify({ pids })}\n`);
    if (process.env.PARENT_MODE === "exit") process.exit(0);
    setInterval(() => undefined, 60_000);
}

main().catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
});
