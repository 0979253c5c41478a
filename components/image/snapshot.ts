/**
 * Project snapshot (R12): the code folder a model service runs, captured deterministically and
 * content-addressed. AML v1 zipped the folder minus what `.amlignore`/`.gitignore` exclude; this
 * captures the same set of files and gives it a SHA-256 that depends on content only.
 *
 * Rules:
 * - Ignore files: in each directory `.amlignore` is used if present, else `.gitignore`; nested
 *   files apply to their directory with gitignore semantics (deeper overrides shallower, `!`
 *   re-includes, an excluded directory is not entered). `.git` directories are never captured.
 * - Symlinks are followed (content stored under the link's name); dangling links and directory
 *   cycles are errors. Sockets, FIFOs and devices are skipped and listed in `skipped`.
 * - Empty directories are kept.
 * - Hash: SHA-256 of a manifest of (type, normalised mode, size, content SHA-256, path), sorted by
 *   path bytes. mtimes, owners and the folder's own location do not change it.
 * - Tar (optional): plain ustar with fixed mtime (1980-01-01), uid/gid 0 and normalised modes;
 *   byte-identical for the same hash.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import type { Writable } from "node:stream";
import * as tar from "tar-stream";
import { Problems } from "../common/validation";
import {
    TreeError,
    collectPack,
    hashTree,
    manifestHash,
    walkTree,
    writeTar,
    type TreeEntry,
} from "./fstree";

/** Ignore files honoured per directory, first found wins (R12). */
export const SNAPSHOT_IGNORE_FILES = [".amlignore", ".gitignore"] as const;

/** First line of the snapshot manifest; bump if the manifest format changes. */
export const SNAPSHOT_MANIFEST_VERSION = "amlaks-snapshot-v1";

export interface SnapshotOptions {
    /**
     * Entry script, relative to the folder (`score.py`, `src/score.py`; `\` is read as `/`). When
     * set it must be a file inside the folder that the ignore files do not exclude.
     */
    readonly entryScript?: string;
    /**
     * Also return the snapshot as a plain tar Buffer (built in the same read pass as the hash).
     * @default false
     */
    readonly tar?: boolean;
}

export interface SnapshotResult {
    /** Absolute path of the captured folder. */
    readonly root: string;
    /** SHA-256 hex of the canonical manifest: the snapshot's content address. */
    readonly hash: string;
    /** Files and directories, sorted by path bytes; files carry `sha256`. */
    readonly files: readonly TreeEntry[];
    /** Number of regular files. */
    readonly fileCount: number;
    /** Total bytes of the files. */
    readonly size: number;
    /** Ignore files that were applied. */
    readonly ignoreFiles: readonly string[];
    /** Special files (sockets, FIFOs, devices) that were skipped. */
    readonly skipped: readonly string[];
    /** The entry script as a normalised relative path, when one was given. */
    readonly entryScript?: string;
    /** The plain tar, when `tar: true`. */
    readonly tar?: Buffer;
}

/**
 * Normalises an entry script path to a relative `/` path inside the folder, or adds a problem.
 * Absolute paths are accepted when they lie inside `root`.
 */
export function normalizeEntryScript(
    entryScript: unknown,
    root: string,
    problems: Problems,
    field = "entryScript",
): string | undefined {
    if (typeof entryScript !== "string" || entryScript.trim() === "") {
        problems.add(field, entryScript, "must be a non-empty path relative to the source folder");
        return undefined;
    }
    let p = entryScript.trim().replace(/\\/g, "/");
    if (path.isAbsolute(p)) p = path.relative(path.resolve(root), p).split(path.sep).join("/");
    const norm = path.posix.normalize(p);
    if (norm === "." || norm === ".." || norm.startsWith("../") || path.posix.isAbsolute(norm)) {
        problems.add(field, entryScript, `must be inside the source folder ${root}`);
        return undefined;
    }
    return norm.replace(/\/$/, "");
}

/**
 * Captures `dir` as a snapshot (R12). Throws a {@link ValidationError} for a missing folder or an
 * entry script that is absent, not a file, or excluded by an ignore file; a {@link TreeError} for
 * dangling symlinks, cycles, or files changing while read.
 */
export async function snapshotDirectory(
    dir: string,
    options: SnapshotOptions = {},
): Promise<SnapshotResult> {
    const root = path.resolve(dir);
    const problems = new Problems();
    const st = await fsp.stat(root).catch(() => undefined);
    if (!st?.isDirectory()) {
        problems.add("sourceDirectory", dir, "must be an existing folder");
        problems.throwIfAny("project snapshot");
    }
    const entryScript =
        options.entryScript === undefined
            ? undefined
            : normalizeEntryScript(options.entryScript, root, problems);
    problems.throwIfAny("project snapshot");

    const walked = await walkTree(root, {
        ignoreFiles: SNAPSHOT_IGNORE_FILES,
        skipDirectories: [".git"],
    });

    if (entryScript !== undefined) {
        const found = walked.entries.find((e) => e.path === entryScript);
        if (!found) {
            const onDisk = await fsp.stat(path.join(root, entryScript)).catch(() => undefined);
            problems.add(
                "entryScript",
                options.entryScript,
                onDisk
                    ? `exists in ${root} but is excluded by the ignore files ` +
                          `(${walked.ignoreFiles.join(", ")}); un-ignore it`
                    : `does not exist in the source folder ${root}`,
            );
        } else if (found.type !== "file") {
            problems.add("entryScript", options.entryScript, "must be a file, not a directory");
        }
        problems.throwIfAny("project snapshot");
    }

    let files: TreeEntry[];
    let tarBuffer: Buffer | undefined;
    if (options.tar) {
        const pack = tar.pack();
        const collected = collectPack(pack);
        files = await hashTree(walked.entries, pack);
        pack.finalize();
        tarBuffer = await collected;
    } else {
        files = await hashTree(walked.entries);
    }
    const regular = files.filter((f) => f.type === "file");
    return {
        root,
        hash: manifestHash(SNAPSHOT_MANIFEST_VERSION, files),
        files,
        fileCount: regular.length,
        size: regular.reduce((n, f) => n + f.size, 0),
        ignoreFiles: walked.ignoreFiles,
        skipped: walked.skipped,
        ...(entryScript !== undefined ? { entryScript } : {}),
        ...(tarBuffer ? { tar: tarBuffer } : {}),
    };
}

/**
 * Streams a snapshot as a plain tar to `out` (e.g. a file or an upload), re-reading the files and
 * failing with a {@link TreeError} if any changed since {@link snapshotDirectory} hashed it.
 */
export function writeSnapshotTar(snapshot: SnapshotResult, out: Writable): Promise<void> {
    return writeTar(snapshot.files, out);
}

export { TreeError };
