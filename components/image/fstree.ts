/**
 * Deterministic file trees: walking a folder (ignore rules, symlinks followed), hashing files by
 * streaming, a canonical manifest hash, a reproducible tar, and a reproducible copy on disk.
 * Shared by the project snapshot (R12) and the model layout (R27).
 *
 * Normalisation, the same everywhere: entries sorted by their UTF-8 path bytes; mode 0755 for
 * directories and for files with any execute bit, else 0644; owner 0:0; mtime fixed at
 * {@link FIXED_MTIME}. Symlinks are followed (their target's content is stored under the link's
 * path, as AML's zip did); a dangling link or a directory cycle is an error.
 */
import { createHash } from "node:crypto";
import { createReadStream, promises as fsp, type Stats } from "node:fs";
import * as path from "node:path";
import type { Writable } from "node:stream";
import ignore, { type Ignore } from "ignore";
import * as tar from "tar-stream";

type TarHeader = Partial<tar.Header> & { name: string };

/** 1980-01-01T00:00:00Z: the mtime of every tar entry and copied file (zip's epoch, not 0). */
export const FIXED_MTIME = new Date(Date.UTC(1980, 0, 1));

/** One entry of a normalised tree. Paths are relative, `/`-separated, without `./`. */
export interface TreeEntry {
    /** Path inside the tree (`src/score.py`). */
    readonly path: string;
    readonly type: "file" | "directory";
    /** 0o644 or 0o755 for files; 0o755 for directories. */
    readonly mode: number;
    /** Bytes (0 for directories). */
    readonly size: number;
    /** SHA-256 hex of the content (files only). */
    readonly sha256?: string;
    /** Absolute path the content is read from (after following symlinks' names, not targets). */
    readonly source: string;
}

/** Error for a file tree that cannot be captured (missing entry script, dangling link, ...). */
export class TreeError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "TreeError";
    }
}

/** UTF-8 byte order, independent of locale and of JS's UTF-16 code-unit order. */
export function comparePaths(a: string, b: string): number {
    return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

export function normalizeMode(stats: Stats): number {
    if (stats.isDirectory()) return 0o755;
    return stats.mode & 0o111 ? 0o755 : 0o644;
}

/** One ignore file in effect for a directory and below. */
interface IgnoreLayer {
    readonly base: string; // relative dir of the ignore file ("" for the root)
    readonly file: string; // relative path of the ignore file, for messages
    readonly ig: Ignore;
}

export interface WalkOptions {
    /**
     * Ignore-file names to honour, in precedence order: in each directory the first that exists is
     * used (`[".amlignore", ".gitignore"]` for a snapshot). Empty → nothing is ignored.
     */
    readonly ignoreFiles?: readonly string[];
    /** Directory names never entered (`.git`). */
    readonly skipDirectories?: readonly string[];
}

export interface WalkResult {
    /** Files and directories, sorted by {@link comparePaths}; the root itself is not listed. */
    readonly entries: TreeEntry[];
    /** Ignore files that were applied (relative paths). */
    readonly ignoreFiles: string[];
    /** Sockets, FIFOs and devices, which cannot be captured (relative paths). */
    readonly skipped: string[];
}

/**
 * Lists a directory tree without reading file contents (sha256 is filled by {@link hashTree}).
 * Nested ignore files follow git semantics: patterns are relative to the file's directory, a
 * deeper file overrides a shallower one, `!` re-includes, and an ignored directory is not entered
 * (so nothing under it can be re-included, as in git).
 */
export async function walkTree(root: string, options: WalkOptions = {}): Promise<WalkResult> {
    const ignoreNames = options.ignoreFiles ?? [];
    const skipDirs = new Set(options.skipDirectories ?? []);
    const entries: TreeEntry[] = [];
    const usedIgnoreFiles: string[] = [];
    const skipped: string[] = [];
    const rootReal = await fsp.realpath(root);

    async function visit(
        absDir: string,
        relDir: string,
        layers: IgnoreLayer[],
        ancestors: Set<string>,
    ): Promise<void> {
        const names = (await fsp.readdir(absDir)).sort(comparePaths);
        let active = layers;
        for (const name of ignoreNames) {
            if (!names.includes(name)) continue;
            const file = relDir ? `${relDir}/${name}` : name;
            const st = await fsp.stat(path.join(absDir, name)).catch(() => undefined);
            if (!st?.isFile()) continue;
            const text = await fsp.readFile(path.join(absDir, name), "utf8");
            active = [...layers, { base: relDir, file, ig: ignore().add(text) }];
            usedIgnoreFiles.push(file);
            break;
        }
        // stat follows symlinks; a dangling link has no stats (undefined) and is an error below,
        // unless an ignore rule excludes it.
        const stats = await Promise.all(
            names.map((name) => fsp.stat(path.join(absDir, name)).catch(() => undefined)),
        );
        for (let i = 0; i < names.length; i++) {
            const name = names[i];
            const st = stats[i];
            const rel = relDir ? `${relDir}/${name}` : name;
            const abs = path.join(absDir, name);
            if (st === undefined) {
                if (isIgnored(active, rel, false)) continue;
                const lst = await fsp.lstat(abs);
                if (!lst.isSymbolicLink()) throw new TreeError(`${rel} cannot be read`);
                const target = await fsp.readlink(abs);
                throw new TreeError(
                    `${rel} is a symbolic link to ${JSON.stringify(target)}, which does not ` +
                        `exist (dangling links cannot be captured; remove or ignore it)`,
                );
            }
            if (st.isDirectory()) {
                if (skipDirs.has(name)) continue;
                if (isIgnored(active, rel, true)) continue;
                const real = await fsp.realpath(abs);
                if (ancestors.has(real)) {
                    throw new TreeError(
                        `${rel} links back to one of its parent directories (symlink cycle)`,
                    );
                }
                entries.push({ path: rel, type: "directory", mode: 0o755, size: 0, source: abs });
                await visit(abs, rel, active, new Set([...ancestors, real]));
            } else if (st.isFile()) {
                if (isIgnored(active, rel, false)) continue;
                entries.push({
                    path: rel,
                    type: "file",
                    mode: normalizeMode(st),
                    size: st.size,
                    source: abs,
                });
            } else if (!isIgnored(active, rel, false)) {
                skipped.push(rel);
            }
        }
    }

    await visit(root, "", [], new Set([rootReal]));
    entries.sort((a, b) => comparePaths(a.path, b.path));
    return { entries, ignoreFiles: usedIgnoreFiles, skipped };
}

/** Deepest ignore file with a matching rule decides; within a file the last matching rule wins. */
function isIgnored(layers: readonly IgnoreLayer[], rel: string, isDir: boolean): boolean {
    for (let i = layers.length - 1; i >= 0; i--) {
        const { base, ig } = layers[i];
        const sub = base ? rel.slice(base.length + 1) : rel;
        const r = ig.test(isDir ? `${sub}/` : sub);
        if (r.ignored) return true;
        if (r.unignored) return false;
    }
    return false;
}

const READ_CHUNK = 1 << 20;

/** Files hashed at once: reads run in libuv's pool while the main thread hashes. */
const HASH_CONCURRENCY = 8;
/** Read-ahead while packing: at most this many small files / bytes in memory. */
const PREFETCH_FILES = 8;
const PREFETCH_BYTES = 64 << 20;
/** Files up to this size are read whole; bigger ones stream so memory stays flat. */
const WHOLE_FILE_LIMIT = 8 << 20;

/**
 * Reads every file once, hashing it (and, when `pack` is given, writing it as a tar entry, in
 * order, in the same pass). Throws when a file's size changed since it was listed.
 */
export async function hashTree(
    entries: readonly TreeEntry[],
    pack?: tar.Pack,
    rename: (p: string) => string = (p) => p,
): Promise<TreeEntry[]> {
    return pack ? packTree(entries, pack, rename) : hashOnly(entries);
}

async function hashOnly(entries: readonly TreeEntry[]): Promise<TreeEntry[]> {
    const out: TreeEntry[] = entries.slice();
    let next = 0;
    const worker = async (): Promise<void> => {
        const buf = Buffer.allocUnsafe(READ_CHUNK);
        while (next < entries.length) {
            const i = next++;
            const e = entries[i];
            if (e.type !== "file") continue;
            const hash = createHash("sha256");
            await hashFileInto(e, hash, buf);
            out[i] = { ...e, sha256: hash.digest("hex") };
        }
    };
    await Promise.all(Array.from({ length: HASH_CONCURRENCY }, worker));
    return out;
}

async function packTree(
    entries: readonly TreeEntry[],
    pack: tar.Pack,
    rename: (p: string) => string,
): Promise<TreeEntry[]> {
    const out: TreeEntry[] = [];
    // Small files are read ahead (bounded) so reading overlaps hashing and packing.
    const pending = new Map<number, Promise<Buffer>>();
    let ahead = 0;
    let aheadBytes = 0;
    const small = (e: TreeEntry) => e.type === "file" && e.size <= WHOLE_FILE_LIMIT;
    const refill = (from: number) => {
        let i = Math.max(from, ahead);
        while (i < entries.length && pending.size < PREFETCH_FILES && aheadBytes < PREFETCH_BYTES) {
            const e = entries[i];
            if (small(e)) {
                const p = fsp.readFile(e.source);
                p.catch(() => undefined); // awaited (and its error thrown) in order below
                pending.set(i, p);
                aheadBytes += e.size;
            }
            i++;
        }
        ahead = i;
    };
    try {
        for (let i = 0; i < entries.length; i++) {
            refill(i + 1);
            const e = entries[i];
            if (e.type === "directory") {
                await addEntry(pack, directoryHeader(rename(e.path)));
                out.push(e);
                continue;
            }
            const hash = createHash("sha256");
            if (small(e)) {
                const data = await (pending.get(i) ?? fsp.readFile(e.source));
                if (pending.delete(i)) aheadBytes -= e.size;
                if (data.length !== e.size) throw changed(e);
                hash.update(data);
                await addEntry(pack, fileHeader(rename(e.path), e), data);
            } else {
                await packLargeFile(pack, e, rename(e.path), hash);
            }
            out.push({ ...e, sha256: hash.digest("hex") });
        }
    } finally {
        pending.clear();
    }
    return out;
}

async function hashFileInto(
    e: TreeEntry,
    hash: ReturnType<typeof createHash>,
    buf: Buffer,
): Promise<void> {
    const fd = await fsp.open(e.source, "r");
    try {
        let total = 0;
        for (;;) {
            const { bytesRead } = await fd.read(buf, 0, buf.length, null);
            if (bytesRead === 0) break;
            hash.update(buf.subarray(0, bytesRead));
            total += bytesRead;
        }
        if (total !== e.size) throw changed(e);
    } finally {
        await fd.close();
    }
}

function changed(e: TreeEntry): TreeError {
    return new TreeError(`${e.path} changed while it was being read (size differs); retry`);
}

function fileHeader(name: string, e: TreeEntry): TarHeader {
    return { ...FIXED_HEADER, name, type: "file", mode: e.mode, size: e.size };
}

function directoryHeader(name: string): TarHeader {
    return { ...FIXED_HEADER, name, type: "directory", mode: 0o755, size: 0 };
}

const FIXED_HEADER = { uid: 0, gid: 0, uname: "", gname: "", mtime: FIXED_MTIME };

function addEntry(pack: tar.Pack, header: TarHeader, data?: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
        pack.entry(header, data ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
}

async function packLargeFile(
    pack: tar.Pack,
    e: TreeEntry,
    name: string,
    hash: ReturnType<typeof createHash>,
): Promise<void> {
    await new Promise<void>((resolve, reject) => {
        let total = 0;
        let failed = false;
        const entry = pack.entry(fileHeader(name, e), (err) => {
            if (failed) return;
            if (err) reject(err);
            else resolve();
        });
        const input = createReadStream(e.source, { highWaterMark: READ_CHUNK });
        input.on("data", (chunk: string | Buffer) => {
            const b = chunk as Buffer;
            total += b.length;
            if (total > e.size) {
                failed = true;
                input.destroy();
                reject(changed(e));
                return;
            }
            hash.update(b);
            if (!entry.write(b)) {
                input.pause();
                entry.once("drain", () => input.resume());
            }
        });
        input.on("error", (err) => {
            failed = true;
            reject(err);
        });
        input.on("end", () => {
            if (total !== e.size) {
                failed = true;
                reject(changed(e));
                return;
            }
            (entry as unknown as { end(): void }).end();
        });
    });
}

/**
 * The content address of a tree: SHA-256 (hex) of a canonical manifest, one line per entry:
 * `<type> <mode octal> <size> <sha256|-> <JSON path>`, after a `header` line that names the kind of
 * tree. Timestamps and owners are not part of it; renaming, content, mode (exec bit) changes are.
 */
export function manifestHash(header: string, entries: readonly TreeEntry[]): string {
    const h = createHash("sha256");
    h.update(`${header}\n`);
    for (const e of entries) {
        if (e.type === "file" && e.sha256 === undefined) {
            throw new Error(`manifestHash: ${e.path} has no content hash`);
        }
        h.update(
            `${e.type} ${e.mode.toString(8)} ${e.size} ${e.sha256 ?? "-"} ${JSON.stringify(e.path)}\n`,
        );
    }
    return h.digest("hex");
}

/**
 * Writes `entries` as a plain (uncompressed) tar to `out`, re-reading each file and checking its
 * SHA-256 against the listed one. Plain tar, because gzip bytes depend on the zlib version; the
 * tar of a given manifest is byte-identical on every machine.
 */
export async function writeTar(
    entries: readonly TreeEntry[],
    out: Writable,
    rename: (p: string) => string = (p) => p,
): Promise<void> {
    const pack = tar.pack();
    const done = new Promise<void>((resolve, reject) => {
        out.on("error", reject);
        out.on("finish", resolve);
        pack.on("error", reject);
    });
    pack.pipe(out);
    const fail = (err: Error): never => {
        done.catch(() => undefined); // the destroy below rejects it; the caller gets `err`
        pack.destroy(err);
        throw err;
    };
    let hashed: TreeEntry[];
    try {
        hashed = await hashTree(entries, pack, rename);
    } catch (e) {
        return fail(e as Error);
    }
    for (let i = 0; i < entries.length; i++) {
        const want = entries[i].sha256;
        if (want !== undefined && hashed[i].sha256 !== want) {
            fail(new TreeError(`${entries[i].path} changed since it was hashed; retry`));
        }
    }
    pack.finalize();
    await done;
}

/** Collects a tar pack into one Buffer while it is being written. */
export function collectPack(pack: tar.Pack): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        pack.on("data", (c: unknown) => chunks.push(c as Buffer));
        pack.on("end", () => resolve(Buffer.concat(chunks)));
        pack.on("error", reject);
    });
}

/**
 * Copies `entries` under `destRoot` (created if missing) with normalised modes and the fixed mtime,
 * so a Docker build context made from them is the same bytes on every machine.
 */
export async function copyTree(
    entries: readonly TreeEntry[],
    destRoot: string,
    rename: (p: string) => string = (p) => p,
): Promise<void> {
    await fsp.mkdir(destRoot, { recursive: true });
    const dirs: string[] = [];
    const files: { e: TreeEntry; dest: string }[] = [];
    for (const e of entries) {
        const dest = path.join(destRoot, ...rename(e.path).split("/"));
        if (e.type === "directory") {
            await fsp.mkdir(dest, { recursive: true });
            dirs.push(dest);
        } else {
            files.push({ e, dest });
        }
    }
    let next = 0;
    const worker = async (): Promise<void> => {
        while (next < files.length) {
            const { e, dest } = files[next++];
            await fsp.mkdir(path.dirname(dest), { recursive: true });
            await fsp.copyFile(e.source, dest);
            await fsp.chmod(dest, e.mode);
            await fsp.utimes(dest, FIXED_MTIME, FIXED_MTIME);
        }
    };
    await Promise.all(Array.from({ length: HASH_CONCURRENCY }, worker));
    // Directory mtimes last: writing files into a directory updates its mtime.
    for (const d of dirs.reverse()) {
        await fsp.chmod(d, 0o755);
        await fsp.utimes(d, FIXED_MTIME, FIXED_MTIME);
    }
}
