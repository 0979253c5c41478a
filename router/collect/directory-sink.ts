/**
 * Model data in a directory (`amlaks serve --collect-model-data <dir>`): `<dir>/modeldata/<path>`,
 * the same tree as the blob container. Each file is written to a temporary name and renamed, so a
 * reader never sees half a batch.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { MODEL_DATA_CONTAINER } from "./layout";
import { StoreError, type ModelDataSink } from "./sink";

/** File-system errors no retry fixes: permissions, a read-only disk, a file where a folder goes. */
const PERMANENT = new Set([
    "EACCES",
    "EPERM",
    "EROFS",
    "ENOTDIR",
    "EISDIR",
    "EEXIST",
    "ENAMETOOLONG",
]);

export class DirectorySink implements ModelDataSink {
    readonly description: string;
    private readonly root: string;

    /** `dir`: the folder given to `--collect-model-data`; files go below `<dir>/modeldata`. */
    constructor(dir: string) {
        this.root = join(resolve(dir), MODEL_DATA_CONTAINER);
        this.description = `directory ${this.root}`;
    }

    async put(path: string, body: Buffer, signal: AbortSignal): Promise<void> {
        const target = resolve(this.root, path);
        if (!target.startsWith(this.root + sep)) {
            // Segments are validated upstream; this guards the file system all the same.
            throw new StoreError(`path ${path} leaves ${this.root}`, false, "bad_path");
        }
        const temp = `${target}.${randomBytes(4).toString("hex")}.tmp`;
        try {
            await mkdir(dirname(target), { recursive: true });
            await writeFile(temp, body, { signal, mode: 0o640 });
            await rename(temp, target);
        } catch (err) {
            await rm(temp, { force: true }).catch(() => undefined);
            const code = (err as NodeJS.ErrnoException).code ?? "error";
            throw new StoreError(
                `cannot write ${target}: ${(err as Error).message}`,
                !PERMANENT.has(code),
                code,
            );
        }
    }
}
