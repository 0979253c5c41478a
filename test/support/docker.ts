/**
 * Real Docker engine and OCI registry for tests (docs/design.md §8, reference/local-infra.md
 * §1–§2).
 *
 * - `startRegistry()` runs Debian's `docker-registry` (distribution 2.8) on 127.0.0.1:<free port>
 *   with a temp config: anonymous, htpasswd Basic auth, or token auth.
 * - `startDockerd()` runs a private `dockerd` (own data-root, exec-root and socket, overlay2,
 *   `--bridge=none --iptables=false`), or uses `DOCKER_HOST` when it is already set.
 * - `pushTestImage()` pushes a tiny image over the registry HTTP API (no Docker needed).
 *
 * Missing binaries make the helpers THROW (tests fail, never skip) with the Debian packages to
 * install. Every process started here is stopped by its pid (also on process exit), and the
 * daemon's leftover mounts (`<exec-root>/netns/default`, overlay mounts) are unmounted.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
    accessSync,
    constants,
    openSync,
    readSync,
    closeSync,
    promises as fsp,
    readFileSync,
} from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";

/** Debian packages the image tests need (install with apt-get, see README / .ci/run). */
export const DEBIAN_PACKAGES = "docker.io docker-registry apache2-utils busybox-static openssl";

/** A test needs a binary that is not installed. */
export class MissingToolError extends Error {
    constructor(command: string, debianPackage: string) {
        super(
            `${command} is not installed: these tests need the Debian package ${debianPackage} ` +
                `(apt-get install -y --no-install-recommends ${DEBIAN_PACKAGES})`,
        );
        this.name = "MissingToolError";
    }
}

const SEARCH_PATH = [
    ...(process.env.PATH ?? "").split(":"),
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
].filter(Boolean);

/** Absolute path of `command`, or a {@link MissingToolError} naming the Debian package. */
export function requireTool(command: string, debianPackage: string): string {
    for (const dir of SEARCH_PATH) {
        const p = path.join(dir, command);
        try {
            accessSync(p, constants.X_OK);
            return p;
        } catch {
            // keep looking
        }
    }
    throw new MissingToolError(command, debianPackage);
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
    });
}

// ---------------------------------------------------------------- process bookkeeping

const running = new Set<ChildProcess>();
const mountsToClean = new Set<string>();

function track(child: ChildProcess): ChildProcess {
    running.add(child);
    child.once("exit", () => running.delete(child));
    return child;
}

// Last resort when a test crashes: kill what is left by pid and unmount what we mounted.
process.once("exit", () => {
    for (const c of running) {
        if (c.pid !== undefined && c.exitCode === null) {
            try {
                process.kill(c.pid, "SIGKILL");
            } catch {
                // already gone
            }
        }
    }
    for (const root of mountsToClean) unmountUnder(root);
});

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

async function stopProcess(child: ChildProcess, graceMs = 10000): Promise<void> {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
}

async function stopPid(pid: number, graceMs = 10000): Promise<void> {
    if (!alive(pid)) return;
    try {
        process.kill(pid, "SIGTERM");
    } catch {
        return;
    }
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await sleep(50);
    if (alive(pid)) {
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            // gone
        }
    }
}

/** Unmounts every mount point under `root`, deepest first (nsfs, overlay, shm). */
function unmountUnder(root: string): void {
    let mounts: string[];
    try {
        mounts = readFileSync("/proc/mounts", "utf8")
            .split("\n")
            .map((l) => l.split(" ")[1])
            .filter((m): m is string => !!m)
            .map((m) => m.replace(/\\040/g, " "))
            .filter((m) => m === root || m.startsWith(`${root}/`));
    } catch {
        return;
    }
    for (const m of mounts.sort((a, b) => b.length - a.length)) {
        spawnSync("umount", [m], { stdio: "ignore" });
        spawnSync("umount", ["-l", m], { stdio: "ignore" });
    }
}

function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

function tail(text: string, lines = 20): string {
    return text.split("\n").slice(-lines).join("\n");
}

// ---------------------------------------------------------------- registry

export interface RegistryAuthHtpasswd {
    readonly username: string;
    readonly password: string;
}

export interface RegistryAuthToken {
    /** Token service URL (the registry sends clients there). */
    readonly realm: string;
    readonly service: string;
    readonly issuer: string;
    /** PEM certificate(s) whose keys sign the tokens. */
    readonly rootCertBundle: string;
}

export interface RegistryOptions {
    readonly htpasswd?: RegistryAuthHtpasswd;
    readonly token?: RegistryAuthToken;
}

export interface RegistryHandle {
    /** `127.0.0.1:<port>`: the registry host as used in image references. */
    readonly host: string;
    readonly port: number;
    /** `http://127.0.0.1:<port>` */
    readonly url: string;
    readonly dir: string;
    /** The registry's log so far. */
    log(): string;
    stop(): Promise<void>;
}

/** Starts Debian's `docker-registry` on 127.0.0.1:<free port>; resolves once `/v2/` answers. */
export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryHandle> {
    const bin = requireTool("docker-registry", "docker-registry");
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-registry-"));
    const port = await freePort();
    let auth = "";
    if (options.htpasswd) {
        const htpasswd = requireTool("htpasswd", "apache2-utils");
        const r = spawnSync(
            htpasswd,
            ["-Bbn", options.htpasswd.username, options.htpasswd.password],
            {
                encoding: "utf8",
            },
        );
        if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
        await fsp.writeFile(path.join(dir, "htpasswd"), r.stdout);
        auth = `auth:\n  htpasswd:\n    realm: amlaks-test\n    path: ${path.join(dir, "htpasswd")}\n`;
    } else if (options.token) {
        const t = options.token;
        auth =
            `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n` +
            `    issuer: ${t.issuer}\n    rootcertbundle: ${t.rootCertBundle}\n`;
    }
    const config =
        `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n` +
        `storage:\n  filesystem:\n    rootdirectory: ${path.join(dir, "data")}\n  delete:\n    enabled: true\n` +
        `http:\n  addr: 127.0.0.1:${port}\n${auth}`;
    const configFile = path.join(dir, "config.yml");
    await fsp.writeFile(configFile, config);
    let log = "";
    const child = track(spawn(bin, ["serve", configFile], { stdio: ["ignore", "pipe", "pipe"] }));
    child.stdout?.on("data", (d: Buffer) => (log += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    const handle: RegistryHandle = {
        host: `127.0.0.1:${port}`,
        port,
        url,
        dir,
        log: () => log,
        stop: async () => {
            await stopProcess(child);
            await fsp.rm(dir, { recursive: true, force: true });
        },
    };
    const deadline = Date.now() + 15000;
    for (;;) {
        if (child.exitCode !== null) {
            await fsp.rm(dir, { recursive: true, force: true });
            throw new Error(`docker-registry exited with code ${child.exitCode}:\n${tail(log)}`);
        }
        try {
            const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
            if (res.status === 200 || res.status === 401) return handle;
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline) {
            await handle.stop();
            throw new Error(`docker-registry did not start within 15 s:\n${tail(log)}`);
        }
        await sleep(50);
    }
}

// ---------------------------------------------------------------- pushing over HTTP

export interface PushedImage {
    /** Manifest digest the registry reported for the push. */
    readonly digest: string;
    readonly manifest: Buffer;
}

async function uploadBlob(
    base: string,
    repo: string,
    data: Buffer,
    headers: Record<string, string>,
): Promise<string> {
    const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST", headers });
    if (start.status !== 202)
        throw new Error(`blob upload start: HTTP ${start.status} ${await start.text()}`);
    const location = new URL(start.headers.get("location") ?? "", base);
    location.searchParams.set("digest", digest);
    const put = await fetch(location, {
        method: "PUT",
        headers: { ...headers, "content-type": "application/octet-stream" },
        body: data,
    });
    if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status} ${await put.text()}`);
    return digest;
}

/**
 * Pushes a minimal Docker v2 (schema 2) image — one layer holding `content` — as
 * `<repo>:<tag>`, and returns the digest from the registry's `Docker-Content-Digest`.
 */
export async function pushTestImage(
    registryUrl: string,
    repo: string,
    tag: string,
    options: { authorization?: string; content?: string } = {},
): Promise<PushedImage> {
    const headers: Record<string, string> = options.authorization
        ? { authorization: options.authorization }
        : {};
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    const ended = new Promise<void>((r) => pack.on("end", () => r()));
    pack.entry(
        { name: "hello.txt", mtime: new Date(0), mode: 0o644 },
        options.content ?? `${repo}:${tag}\n`,
    );
    pack.finalize();
    await ended;
    const layerTar = Buffer.concat(chunks);
    const layer = gzipSync(layerTar);
    const diffId = `sha256:${createHash("sha256").update(layerTar).digest("hex")}`;
    const config = Buffer.from(
        JSON.stringify({
            architecture: "amd64",
            os: "linux",
            config: {},
            rootfs: { type: "layers", diff_ids: [diffId] },
        }),
    );
    const configDigest = await uploadBlob(registryUrl, repo, config, headers);
    const layerDigest = await uploadBlob(registryUrl, repo, layer, headers);
    const mediaType = "application/vnd.docker.distribution.manifest.v2+json";
    const manifest = Buffer.from(
        JSON.stringify({
            schemaVersion: 2,
            mediaType,
            config: {
                mediaType: "application/vnd.docker.container.image.v1+json",
                size: config.length,
                digest: configDigest,
            },
            layers: [
                {
                    mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    size: layer.length,
                    digest: layerDigest,
                },
            ],
        }),
    );
    const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${tag}`, {
        method: "PUT",
        headers: { ...headers, "content-type": mediaType },
        body: manifest,
    });
    if (res.status !== 201) throw new Error(`manifest put: HTTP ${res.status} ${await res.text()}`);
    const digest = res.headers.get("docker-content-digest");
    if (!digest) throw new Error("manifest put: no Docker-Content-Digest");
    return { digest, manifest };
}

// ---------------------------------------------------------------- docker engine

export interface DockerHandle {
    /** `unix:///.../docker.sock` (or the DOCKER_HOST that was already set). */
    readonly host: string;
    /** True when the daemon came from DOCKER_HOST (not started, not stopped here). */
    readonly external: boolean;
    /** Environment for the docker CLI: DOCKER_HOST, a private DOCKER_CONFIG, legacy builder. */
    readonly env: NodeJS.ProcessEnv;
    /** Runs the docker CLI; rejects with its stderr on a non-zero exit. */
    docker(
        args: readonly string[],
        options?: { input?: Buffer | string; timeoutMs?: number },
    ): Promise<string>;
    stop(): Promise<void>;
}

function pingDocker(host: string): Promise<boolean> {
    return new Promise((resolve) => {
        const opts: http.RequestOptions = { path: "/_ping", method: "GET", timeout: 1000 };
        if (host.startsWith("unix://")) opts.socketPath = host.slice("unix://".length);
        else if (host.startsWith("tcp://")) {
            const u = new URL(host.replace(/^tcp:/, "http:"));
            opts.host = u.hostname;
            opts.port = Number(u.port);
        } else return resolve(false);
        const req = http.request(opts, (res) => {
            res.resume();
            resolve(res.statusCode === 200);
        });
        req.on("error", () => resolve(false));
        req.on("timeout", () => {
            req.destroy();
            resolve(false);
        });
        req.end();
    });
}

function runCli(
    dockerBin: string,
    env: NodeJS.ProcessEnv,
    args: readonly string[],
    options: { input?: Buffer | string; timeoutMs?: number } = {},
): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = track(spawn(dockerBin, args, { env, stdio: ["pipe", "pipe", "pipe"] }));
        let out = "";
        let err = "";
        child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 180000);
        child.on("error", reject);
        child.on("exit", (code, signal) => {
            clearTimeout(timer);
            if (code === 0) resolve(out);
            else
                reject(
                    new Error(
                        `docker ${args.join(" ")} failed (${code ?? signal}):\n${tail(err || out)}`,
                    ),
                );
        });
        child.stdin?.on("error", () => undefined);
        child.stdin?.end(options.input ?? "");
    });
}

/**
 * A Docker engine for the test: the one in DOCKER_HOST if set and answering, else a private
 * `dockerd` started here (resolves once `/_ping` answers).
 */
export async function startDockerd(): Promise<DockerHandle> {
    const dockerBin = requireTool("docker", "docker.io");
    const configDir = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-docker-config-"));
    const cliEnv = (host: string): NodeJS.ProcessEnv => ({
        ...process.env,
        DOCKER_HOST: host,
        DOCKER_CONFIG: configDir,
        DOCKER_BUILDKIT: "0",
        DOCKER_CLI_HINTS: "false",
    });
    const existing = process.env.DOCKER_HOST;
    if (existing) {
        if (!(await pingDocker(existing))) {
            throw new Error(`DOCKER_HOST=${existing} is set but no Docker engine answers there`);
        }
        const env = cliEnv(existing);
        return {
            host: existing,
            external: true,
            env,
            docker: (args, o) => runCli(dockerBin, env, args, o),
            stop: async () => {
                await fsp.rm(configDir, { recursive: true, force: true });
            },
        };
    }
    const dockerd = requireTool("dockerd", "docker.io");
    requireTool("containerd", "containerd (installed with docker.io)");
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-dockerd-"));
    const execRoot = path.join(root, "exec");
    const host = `unix://${path.join(root, "docker.sock")}`;
    mountsToClean.add(root);
    let log = "";
    const child = track(
        spawn(
            dockerd,
            [
                "--data-root",
                path.join(root, "data"),
                "--exec-root",
                execRoot,
                "--pidfile",
                path.join(root, "dockerd.pid"),
                "--host",
                host,
                "--storage-driver=overlay2",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
            ],
            { stdio: ["ignore", "pipe", "pipe"] },
        ),
    );
    child.stdout?.on("data", (d: Buffer) => (log += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    const env = cliEnv(host);

    const stop = async (): Promise<void> => {
        let containerdPid: number | undefined;
        try {
            containerdPid = Number(
                (
                    await fsp.readFile(path.join(execRoot, "containerd", "containerd.pid"), "utf8")
                ).trim(),
            );
        } catch {
            containerdPid = undefined;
        }
        await stopProcess(child, 20000);
        if (containerdPid && Number.isInteger(containerdPid)) await stopPid(containerdPid);
        unmountUnder(root);
        mountsToClean.delete(root);
        await fsp.rm(root, { recursive: true, force: true }).catch(() => undefined);
        await fsp.rm(configDir, { recursive: true, force: true });
    };

    const deadline = Date.now() + 30000;
    while (!(await pingDocker(host))) {
        if (child.exitCode !== null) {
            await stop();
            throw new Error(`dockerd exited with code ${child.exitCode}:\n${tail(log)}`);
        }
        if (Date.now() > deadline) {
            await stop();
            throw new Error(`dockerd did not answer within 30 s:\n${tail(log)}`);
        }
        await sleep(100);
    }
    return {
        host,
        external: false,
        env,
        docker: (args, o) => runCli(dockerBin, env, args, o),
        stop,
    };
}

/** True when the ELF file at `p` has no program interpreter (statically linked). */
function isStaticElf(p: string): boolean {
    const fd = openSync(p, "r");
    try {
        const h = Buffer.alloc(64);
        readSync(fd, h, 0, 64, 0);
        if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2) return false; // ELF64 only
        const phoff = Number(h.readBigUInt64LE(32));
        const phentsize = h.readUInt16LE(54);
        const phnum = h.readUInt16LE(56);
        const ph = Buffer.alloc(phentsize * phnum);
        readSync(fd, ph, 0, ph.length, phoff);
        for (let i = 0; i < phnum; i++) {
            if (ph.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
        }
        return true;
    } finally {
        closeSync(fd);
    }
}

/** Applets linked in the test base image. */
const BUSYBOX_APPLETS = [
    "sh",
    "cat",
    "ls",
    "env",
    "echo",
    "test",
    "mkdir",
    "find",
    "sha256sum",
    "wc",
];

/**
 * Imports a tiny base image `name` made of the static busybox (Debian `busybox-static`) and a
 * few applet links: a local stand-in for an AML base image, no network needed.
 */
export async function importBusyboxImage(d: DockerHandle, name: string): Promise<void> {
    const busybox = requireTool("busybox", "busybox-static");
    if (!isStaticElf(busybox)) throw new MissingToolError(`a static ${busybox}`, "busybox-static");
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    const ended = new Promise<void>((r) => pack.on("end", () => r()));
    const add = (h: Partial<tar.Header> & { name: string }, data?: Buffer) =>
        new Promise<void>((resolve, reject) =>
            pack.entry({ mtime: new Date(0), ...h }, data ?? Buffer.alloc(0), (e) =>
                e ? reject(e) : resolve(),
            ),
        );
    for (const dir of ["bin", "tmp", "etc", "var"])
        await add({ name: `${dir}/`, type: "directory", mode: 0o755 });
    await add({ name: "bin/busybox", mode: 0o755 }, await fsp.readFile(busybox));
    for (const applet of BUSYBOX_APPLETS) {
        await add({ name: `bin/${applet}`, type: "symlink", linkname: "busybox", mode: 0o777 });
    }
    pack.finalize();
    await ended;
    await d.docker(["import", "--change", "ENV PATH=/bin", "-", name], {
        input: Buffer.concat(chunks),
    });
}
