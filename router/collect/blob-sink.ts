/**
 * Model data in Azure Blob Storage: block blobs in one container (`modeldata`, as v1) of the
 * workspace's storage account. In a cluster the router authenticates with its pod's workload
 * identity (a `TokenCredential`, Storage Blob Data Contributor on the container); no account key
 * ever reaches the pod. A connection string is accepted for the storage emulator (Azurite) in
 * tests and local runs.
 *
 * The SDK's own retries are off (one try per call): the collector decides about retries, with
 * its own bounds and metrics, so a failing store costs a known number of attempts.
 */
import type { TokenCredential } from "@azure/identity";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { MODEL_DATA_CONTAINER } from "./layout";
import { StoreError, type ModelDataSink } from "./sink";

export type BlobSinkOptions = (
    | {
          /** `https://<account>.blob.core.windows.net` */
          readonly accountUrl: string;
          readonly credential: TokenCredential;
      }
    | {
          /** Storage emulator or test accounts only: it holds the account key. */
          readonly connectionString: string;
      }
) & {
    /** @default "modeldata" */
    readonly container?: string;
};

/** HTTP statuses no retry fixes (a bad request, a blob name the service refuses). */
const PERMANENT_STATUS = new Set([400, 404, 405, 409, 411, 413, 414]);

/** Status and code of an SDK error (`RestError`), without its request (which carries headers). */
function describe(err: unknown): { status?: number; code: string; message: string } {
    const e = err as { statusCode?: unknown; code?: unknown; name?: unknown; message?: unknown };
    const status = typeof e?.statusCode === "number" ? e.statusCode : undefined;
    const code =
        typeof e?.code === "string"
            ? e.code
            : status !== undefined
              ? String(status)
              : typeof e?.name === "string"
                ? e.name
                : "error";
    const message = typeof e?.message === "string" ? e.message.split("\n")[0] : String(err);
    return { status, code, message };
}

export class BlobSink implements ModelDataSink {
    readonly description: string;
    private readonly container: ContainerClient;
    private containerChecked: Promise<void> | undefined;

    constructor(options: BlobSinkOptions) {
        const retryOptions = { maxTries: 1 };
        const service =
            "connectionString" in options
                ? BlobServiceClient.fromConnectionString(options.connectionString, {
                      retryOptions,
                  })
                : new BlobServiceClient(options.accountUrl, options.credential, { retryOptions });
        this.container = service.getContainerClient(options.container ?? MODEL_DATA_CONTAINER);
        // The URL names the account and container; it never carries a key or SAS here.
        this.description = `blob ${this.container.url}`;
    }

    async put(path: string, body: Buffer, signal: AbortSignal): Promise<void> {
        try {
            await this.upload(path, body, signal);
        } catch (err) {
            if (describe(err).code !== "ContainerNotFound") throw this.classify(err);
            // The cluster creates the container; a fresh emulator or account may not have it.
            this.containerChecked ??= this.container
                .createIfNotExists({ abortSignal: signal })
                .then(
                    () => undefined,
                    (e: unknown) => {
                        this.containerChecked = undefined;
                        throw e;
                    },
                );
            try {
                await this.containerChecked;
                await this.upload(path, body, signal);
            } catch (e) {
                throw this.classify(e);
            }
        }
    }

    private async upload(path: string, body: Buffer, signal: AbortSignal): Promise<void> {
        await this.container.getBlockBlobClient(path).upload(body, body.length, {
            abortSignal: signal,
            blobHTTPHeaders: { blobContentType: "application/x-ndjson; charset=utf-8" },
        });
    }

    private classify(err: unknown): StoreError {
        const d = describe(err);
        // 401/403 are retried: a new role assignment takes minutes to reach the storage service.
        const transient = d.status === undefined || !PERMANENT_STATUS.has(d.status);
        return new StoreError(`blob upload failed: ${d.message}`, transient, d.code);
    }
}
