// Project snapshot (R12): .amlignore/.gitignore rules, determinism, content addressing, symlinks,
// empty directories and the entry-script check.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { PassThrough } from "node:stream";
import * as tar from "tar-stream";
import { ValidationError } from "../../components/common/validation";
import { snapshotDirectory, writeSnapshotTar, TreeError } from "../../components/image/snapshot";

const roots: string[] = [];
after(async () => {
    for (const r of roots) await fsp.rm(r, { recursive: true, force: true });
});

/** Makes a folder from { "a/b.txt": "content", "empty/": null }. */
async function tree(files: Record<string, string | null>): Promise<string> {
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-snap-"));
    roots.push(root);
    for (const [p, content] of Object.entries(files)) {
        const abs = path.join(root, p);
        if (content === null) {
            await fsp.mkdir(abs, { recursive: true });
        } else {
            await fsp.mkdir(path.dirname(abs), { recursive: true });
            await fsp.writeFile(abs, content);
        }
    }
    return root;
}

async function paths(root: string, opts = {}): Promise<string[]> {
    return (await snapshotDirectory(root, opts)).files.map((f) =>
        f.type === "directory" ? `${f.path}/` : f.path,
    );
}

async function untar(buf: Buffer): Promise<{ header: tar.Header; data: string }[]> {
    const out: { header: tar.Header; data: string }[] = [];
    const ex = tar.extract();
    const done = new Promise<void>((resolve, reject) => {
        ex.on("entry", (header, stream, next) => {
            const chunks: Buffer[] = [];
            stream.on("data", (c: unknown) => chunks.push(c as Buffer));
            stream.on("end", () => {
                out.push({ header, data: Buffer.concat(chunks).toString() });
                next();
            });
        });
        ex.on("finish", resolve);
        ex.on("error", reject);
    });
    ex.end(buf);
    await done;
    return out;
}

async function entryErrors(root: string, entryScript: string): Promise<string[]> {
    try {
        await snapshotDirectory(root, { entryScript });
    } catch (e) {
        assert.ok(e instanceof ValidationError, String(e));
        return e.problems.map((p) => `${p.field}: ${p.rule}`);
    }
    return [];
}

describe("ignore files (R12)", () => {
    test(".amlignore wins over .gitignore in the same folder", async () => {
        const root = await tree({
            ".amlignore": "b.txt\n",
            ".gitignore": "a.txt\n",
            "a.txt": "a",
            "b.txt": "b",
            "score.py": "",
        });
        const s = await snapshotDirectory(root);
        assert.deepEqual(s.ignoreFiles, [".amlignore"]);
        assert.deepEqual(await paths(root), [".amlignore", ".gitignore", "a.txt", "score.py"]);
    });

    test(".gitignore is used when there is no .amlignore", async () => {
        const root = await tree({ ".gitignore": "a.txt\n", "a.txt": "a", "b.txt": "b" });
        assert.deepEqual(await paths(root), [".gitignore", "b.txt"]);
    });

    test("negation, directory patterns, anchors and comments follow gitignore", async () => {
        const root = await tree({
            ".gitignore": "# logs\n*.log\n!keep.log\nbuild/\n!build/x.txt\n/top.txt\n",
            "a.log": "",
            "keep.log": "",
            "build/x.txt": "",
            "top.txt": "",
            "sub/top.txt": "",
            "sub/deep.log": "",
        });
        // build/ is excluded as a directory, so build/x.txt cannot be re-included (git semantics);
        // /top.txt is anchored to the root.
        assert.deepEqual(await paths(root), [".gitignore", "keep.log", "sub/", "sub/top.txt"]);
    });

    test("nested ignore files apply to their folder and override the parent", async () => {
        const root = await tree({
            ".gitignore": "*.csv\n",
            "a.csv": "",
            "data/.gitignore": "!keep.csv\n*.tmp\n",
            "data/keep.csv": "",
            "data/other.csv": "",
            "data/x.tmp": "",
            "y.tmp": "",
            "cfg/.amlignore": "secret.txt\n",
            "cfg/.gitignore": "public.txt\n",
            "cfg/public.txt": "",
            "cfg/secret.txt": "",
        });
        assert.deepEqual(await paths(root), [
            ".gitignore",
            "cfg/",
            "cfg/.amlignore",
            "cfg/.gitignore",
            "cfg/public.txt",
            "data/",
            "data/.gitignore",
            "data/keep.csv",
            "y.tmp",
        ]);
        assert.deepEqual((await snapshotDirectory(root)).ignoreFiles, [
            ".gitignore",
            "cfg/.amlignore",
            "data/.gitignore",
        ]);
    });

    test(".git is never captured", async () => {
        const root = await tree({ ".git/HEAD": "ref", "score.py": "" });
        assert.deepEqual(await paths(root), ["score.py"]);
    });
});

describe("determinism and content addressing", () => {
    const files = {
        "score.py": "def init(): pass\n",
        "lib/util.py": "X = 1\n",
        "lib/data/weights.bin": "\u0000\u0001binary",
        "empty/": null,
        "ünïcode/ファイル.txt": "x",
    };

    test("two runs give byte-identical tars and the same hash", async () => {
        const root = await tree(files);
        const a = await snapshotDirectory(root, { tar: true });
        const b = await snapshotDirectory(root, { tar: true });
        assert.equal(a.hash, b.hash);
        assert.match(a.hash, /^[0-9a-f]{64}$/);
        assert.ok(a.tar && b.tar && a.tar.equals(b.tar));
    });

    test("mtimes, location and group/other permission bits do not change hash or tar", async () => {
        const one = await tree(files);
        const two = await tree(files);
        const old = new Date("2001-02-03T04:05:06Z");
        await fsp.utimes(path.join(two, "score.py"), old, old);
        await fsp.utimes(path.join(two, "lib"), old, old);
        await fsp.chmod(path.join(two, "lib/util.py"), 0o664);
        const a = await snapshotDirectory(one, { tar: true });
        const b = await snapshotDirectory(two, { tar: true });
        assert.equal(a.hash, b.hash);
        assert.ok(a.tar!.equals(b.tar!));
    });

    test("content, names, the execute bit and empty folders do change the hash", async () => {
        const base = (await snapshotDirectory(await tree(files))).hash;
        const variants: Record<string, string | null>[] = [
            { ...files, "score.py": "def init(): return 1\n" },
            { ...files, "lib/util2.py": "X = 1\n" },
            { ...files, "empty2/": null },
        ];
        for (const v of variants)
            assert.notEqual((await snapshotDirectory(await tree(v))).hash, base);
        const exec = await tree(files);
        await fsp.chmod(path.join(exec, "score.py"), 0o755);
        assert.notEqual((await snapshotDirectory(exec)).hash, base);
    });

    test("tar entries are sorted, owned by 0:0, dated 1980-01-01, with normalised modes", async () => {
        const root = await tree(files);
        await fsp.chmod(path.join(root, "lib/util.py"), 0o750);
        const s = await snapshotDirectory(root, { tar: true });
        const entries = await untar(s.tar!);
        assert.deepEqual(
            entries.map((e) => e.header.name),
            s.files.map((f) => f.path),
        );
        for (const { header } of entries) {
            assert.equal(header.uid, 0);
            assert.equal(header.gid, 0);
            assert.equal(header.mtime.toISOString(), "1980-01-01T00:00:00.000Z");
        }
        const byName = new Map(entries.map((e) => [e.header.name, e]));
        assert.equal(byName.get("lib/util.py")!.header.mode, 0o755);
        assert.equal(byName.get("score.py")!.header.mode, 0o644);
        assert.equal(byName.get("empty")!.header.type, "directory");
        assert.equal(byName.get("lib/data/weights.bin")!.data, "\u0000\u0001binary");
        assert.equal(s.fileCount, 4);
        assert.equal(
            s.size,
            s.files.reduce((n, f) => n + f.size, 0),
        );
    });

    test("writeSnapshotTar streams the same bytes, and refuses files changed since", async () => {
        const root = await tree(files);
        const s = await snapshotDirectory(root, { tar: true });
        const sink = new PassThrough();
        const chunks: Buffer[] = [];
        sink.on("data", (c: Buffer) => chunks.push(c));
        await writeSnapshotTar(s, sink);
        assert.ok(Buffer.concat(chunks).equals(s.tar!));

        await fsp.writeFile(
            path.join(root, "score.py"),
            "def init(): pass\n".replace("pass", "1234"),
        );
        await assert.rejects(writeSnapshotTar(s, new PassThrough().resume()), (e: Error) => {
            assert.ok(e instanceof TreeError);
            assert.match(e.message, /score\.py changed/);
            return true;
        });
    });
});

describe("symlinks, special files and empty folders", () => {
    test("links are followed: content stored under the link's name, outside targets included", async () => {
        const outside = await tree({ "shared.py": "SHARED = 1\n" });
        const root = await tree({ "score.py": "x", "pkg/mod.py": "m" });
        await fsp.symlink("score.py", path.join(root, "alias.py"));
        await fsp.symlink("pkg", path.join(root, "pkg-link"));
        await fsp.symlink(path.join(outside, "shared.py"), path.join(root, "shared.py"));
        const s = await snapshotDirectory(root, { tar: true });
        assert.deepEqual(
            s.files.map((f) => `${f.type} ${f.path}`),
            [
                "file alias.py",
                "directory pkg",
                "directory pkg-link",
                "file pkg-link/mod.py",
                "file pkg/mod.py",
                "file score.py",
                "file shared.py",
            ],
        );
        const entries = await untar(s.tar!);
        assert.ok(entries.every((e) => e.header.type === "file" || e.header.type === "directory"));
        assert.equal(entries.find((e) => e.header.name === "shared.py")!.data, "SHARED = 1\n");
    });

    test("a dangling link is an error naming it", async () => {
        const root = await tree({ "score.py": "" });
        await fsp.symlink("nowhere.py", path.join(root, "broken.py"));
        await assert.rejects(snapshotDirectory(root), (e: Error) => {
            assert.ok(e instanceof TreeError);
            assert.match(
                e.message,
                /broken\.py is a symbolic link to "nowhere\.py", which does not exist/,
            );
            return true;
        });
    });

    test("a link back to a parent folder is an error (cycle)", async () => {
        const root = await tree({ "a/b.txt": "" });
        await fsp.symlink("..", path.join(root, "a", "up"));
        await assert.rejects(
            snapshotDirectory(root),
            /a\/up links back to one of its parent directories/,
        );
    });

    test("an ignored dangling link is not an error; sockets are skipped and listed", async () => {
        const root = await tree({ ".gitignore": "broken.py\n", "score.py": "" });
        await fsp.symlink("nowhere.py", path.join(root, "broken.py"));
        const sock = path.join(root, "app.sock");
        const server = net.createServer().listen(sock);
        await new Promise((r) => server.once("listening", r));
        try {
            const s = await snapshotDirectory(root);
            assert.deepEqual(s.skipped, ["app.sock"]);
            assert.deepEqual(
                s.files.map((f) => f.path),
                [".gitignore", "score.py"],
            );
            assert.ok(!s.files.some((f) => f.path === "app.sock"));
        } finally {
            await new Promise((r) => server.close(r));
        }
    });

    test("empty folders are kept, also nested ones", async () => {
        const root = await tree({ "score.py": "", "a/b/c/": null });
        assert.deepEqual(await paths(root), ["a/", "a/b/", "a/b/c/", "score.py"]);
    });
});

describe("entry script", () => {
    test("must exist in the folder", async () => {
        const root = await tree({ "score.py": "" });
        assert.deepEqual(await entryErrors(root, "main.py"), [
            `entryScript: does not exist in the source folder ${root}`,
        ]);
        assert.deepEqual(await entryErrors(root, "score.py"), []);
    });

    test("must not be excluded by an ignore file", async () => {
        const root = await tree({ ".amlignore": "*.py\n", "score.py": "" });
        const errors = await entryErrors(root, "score.py");
        assert.equal(errors.length, 1);
        assert.match(errors[0], /exists in .* but is excluded by the ignore files \(\.amlignore\)/);
    });

    test("must be a file inside the folder", async () => {
        const root = await tree({ "src/score.py": "" });
        assert.deepEqual(await entryErrors(root, "src"), [
            "entryScript: must be a file, not a directory",
        ]);
        assert.deepEqual(await entryErrors(root, "../score.py"), [
            `entryScript: must be inside the source folder ${root}`,
        ]);
    });

    test("Windows separators, ./ and absolute paths inside the folder are normalised", async () => {
        const root = await tree({ "src/score.py": "" });
        for (const p of ["src\\score.py", "./src/score.py", path.join(root, "src", "score.py")]) {
            assert.equal(
                (await snapshotDirectory(root, { entryScript: p })).entryScript,
                "src/score.py",
            );
        }
    });

    test("a missing folder is a clear error", async () => {
        await assert.rejects(
            snapshotDirectory("/nonexistent/amlaks"),
            /sourceDirectory: "\/nonexistent\/amlaks" must be an existing folder/,
        );
    });
});
