// Benchmark: hashing and packing a project snapshot (R12) and laying out models (R27).
// Generates a 2,000-file / 200 MB source folder and 1,000 small model files under a temp dir,
// then prints MB/s for each step and whether a second run is byte-identical.
// Run by hand: npx tsx bench/image-snapshot.ts  [--files 2000] [--mb 200] [--models 1000]
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderAppLayerContext } from "../components/image/context";
import { layoutModels } from "../components/image/models";
import { snapshotDirectory, writeSnapshotTar } from "../components/image/snapshot";

function arg(name: string, def: number): number {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
}

const FILES = arg("files", 2000);
const TOTAL_MB = arg("mb", 200);
const MODELS = arg("models", 1000);

async function timed<T>(label: string, bytes: number, fn: () => Promise<T>): Promise<T> {
    const t0 = process.hrtime.bigint();
    const r = await fn();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const mb = bytes / 1e6;
    console.log(
        `${label.padEnd(44)} ${s.toFixed(3).padStart(7)} s  ${(mb / s).toFixed(0).padStart(6)} MB/s`,
    );
    return r;
}

async function main(): Promise<void> {
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-bench-"));
    try {
        const src = path.join(root, "src");
        const models = path.join(root, "models");
        // Sizes vary around the mean (half to 1.5x) and add up to TOTAL_MB exactly.
        const mean = Math.floor((TOTAL_MB * 1e6) / FILES);
        let written = 0;
        for (let i = 0; i < FILES; i++) {
            const size =
                i === FILES - 1
                    ? TOTAL_MB * 1e6 - written
                    : Math.floor(mean * (0.5 + ((i * 7919) % 1000) / 1000));
            const dir = path.join(src, `pkg${i % 40}`, `sub${i % 7}`);
            await fsp.mkdir(dir, { recursive: true });
            await fsp.writeFile(path.join(dir, `file${i}.bin`), randomBytes(size));
            written += size;
        }
        await fsp.writeFile(path.join(src, "score.py"), "def init():\n    pass\n");
        await fsp.writeFile(path.join(src, ".amlignore"), "*.log\n");
        await fsp.mkdir(models, { recursive: true });
        for (let i = 0; i < MODELS; i++)
            await fsp.writeFile(path.join(models, `model${i}.pkl`), randomBytes(2048));
        const bytes = written;
        console.log(
            `source: ${FILES + 2} files, ${(bytes / 1e6).toFixed(0)} MB; models: ${MODELS} x 2 KiB; ${os.cpus().length} CPUs, Node ${process.version}`,
        );

        const hashOnly = await timed("snapshot: walk + hash", bytes, () =>
            snapshotDirectory(src, { entryScript: "score.py" }),
        );
        const first = await timed("snapshot: walk + hash + tar (one pass)", bytes, () =>
            snapshotDirectory(src, { entryScript: "score.py", tar: true }),
        );
        const second = await timed("snapshot: second run (hash + tar)", bytes, () =>
            snapshotDirectory(src, { entryScript: "score.py", tar: true }),
        );
        const tarFile = path.join(root, "snapshot.tar");
        await timed("writeSnapshotTar to a file (re-read + verify)", bytes, () =>
            writeSnapshotTar(first, createWriteStream(tarFile)),
        );
        const fileTar = await fsp.readFile(tarFile);
        const digest = (b: Buffer) => createHash("sha256").update(b).digest("hex").slice(0, 16);
        console.log(
            `hashes equal: ${hashOnly.hash === first.hash && first.hash === second.hash}; ` +
                `tar byte-identical (run 1 vs run 2 vs streamed): ${first.tar!.equals(second.tar!) && first.tar!.equals(fileTar)} ` +
                `(${digest(first.tar!)}, ${(first.tar!.length / 1e6).toFixed(1)} MB)`,
        );

        const modelPaths = Array.from({ length: MODELS }, (_, i) =>
            path.join(models, `model${i}.pkl`),
        );
        const t0 = process.hrtime.bigint();
        const l1 = await layoutModels(modelPaths);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        const l2 = await layoutModels(modelPaths);
        console.log(
            `layoutModels: ${MODELS} models in ${ms.toFixed(0)} ms (${((MODELS / ms) * 1000).toFixed(0)} models/s); ` +
                `second run same hash: ${l1.hash === l2.hash}`,
        );

        await timed("renderAppLayerContext (copy code + models)", bytes + l1.size, () =>
            renderAppLayerContext({
                directory: path.join(root, "ctx"),
                environmentImage: `example.azurecr.io/azureml/azureml_${"0".repeat(32)}@sha256:${"0".repeat(64)}`,
                entryScript: "score.py",
                snapshot: first,
                modelLayout: l1,
            }),
        );
    } finally {
        await fsp.rm(root, { recursive: true, force: true });
    }
}

main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});
