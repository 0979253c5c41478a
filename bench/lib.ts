/** Helpers shared by the benchmarks (run by hand): ports, CPU pinning, child processes, nginx. */
import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import { join } from "node:path";

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.listen(0, "127.0.0.1", () => {
            const p = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(p));
        });
    });
}

/** `cmd cmdArgs` pinned on `cpu` with taskset (Linux; elsewhere unpinned). */
export function pinned(cpu: number, cmd: string, cmdArgs: string[]): [string, string[]] {
    return process.platform === "linux"
        ? ["taskset", ["-c", String(cpu), cmd, ...cmdArgs]]
        : [cmd, cmdArgs];
}

/**
 * Runs `file` again as a pinned child (`tsx file ...childArgs`) that sends an IPC message once
 * it is ready; the child is added to `children` for clean-up.
 */
export function startNodeChild(
    children: ChildProcess[],
    file: string,
    cpu: number,
    childArgs: string[],
): Promise<ChildProcess> {
    const [cmd, a] = pinned(cpu, process.execPath, ["--import", "tsx", file, ...childArgs]);
    const child = spawn(cmd, a, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.push(child);
    return new Promise((resolve, reject) => {
        child.once("message", () => resolve(child));
        child.once("exit", (code) => reject(new Error(`${childArgs[0]} exited ${code}`)));
    });
}

/** nginx.conf for one foreground worker with its files under `dir`, around `httpBody`. */
export function nginxConfig(dir: string, name: string, httpBody: string): string {
    return `worker_processes 1;
daemon off;
master_process off;
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}.err`)} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/${name}-body;
  proxy_temp_path ${dir}/${name}-proxy;
  fastcgi_temp_path ${dir}/${name}-fcgi;
  uwsgi_temp_path ${dir}/${name}-uwsgi;
  scgi_temp_path ${dir}/${name}-scgi;
  keepalive_requests 1000000;
  ${httpBody}
}
`;
}
