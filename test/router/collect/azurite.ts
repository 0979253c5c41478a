/**
 * Azurite's Blob service (npm `azurite`, ../shared/reference/local-infra.md) on 127.0.0.1 and a
 * free port, with its data in a temporary folder; stopped by pid.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";

const MAIN = join(
    __dirname,
    "..",
    "..",
    "..",
    "node_modules",
    "azurite",
    "dist",
    "src",
    "blob",
    "main.js",
);

/** Azurite's well-known development account (public, documented by Microsoft). */
export const DEV_ACCOUNT = "devstoreaccount1";
export const DEV_KEY =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface Azurite {
    readonly port: number;
    readonly connectionString: string;
    readonly service: BlobServiceClient;
    /** Stops the process (SIGTERM, then SIGKILL) and, unless `keepData`, removes its data. */
    stop(keepData?: boolean): Promise<void>;
}

async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    return port;
}

function exited(child: ChildProcess): Promise<void> {
    return child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((r) => child.once("exit", () => r()));
}

export async function startAzurite(): Promise<Azurite> {
    const location = mkdtempSync(join(tmpdir(), "amlaks-azurite-"));
    const port = await freePort();
    const child = spawn(
        process.execPath,
        [
            MAIN,
            "--silent",
            "--skipApiVersionCheck",
            // Azurite reports usage to Application Insights unless told not to: no traffic
            // leaves this machine.
            "--disableTelemetry",
            "--location",
            location,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            String(port),
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const connectionString =
        `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};` +
        `BlobEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`;
    const service = BlobServiceClient.fromConnectionString(connectionString, {
        retryOptions: { maxTries: 1 },
    });
    const stop = async (keepData = false): Promise<void> => {
        if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGTERM");
            const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
            await exited(child);
            clearTimeout(timer);
        }
        if (!keepData) rmSync(location, { recursive: true, force: true });
    };
    const deadline = Date.now() + 30_000;
    for (;;) {
        if (child.exitCode !== null) {
            await stop();
            throw new Error(`azurite exited (${child.exitCode}): ${stderr}`);
        }
        try {
            await service.getProperties();
            break;
        } catch {
            if (Date.now() > deadline) {
                await stop();
                throw new Error(`azurite did not answer on port ${port}: ${stderr}`);
            }
            await new Promise((r) => setTimeout(r, 100));
        }
    }
    return { port, connectionString, service, stop };
}
