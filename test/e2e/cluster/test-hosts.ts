/**
 * Test hosts: a network namespace with one end of a veth pair, holding one address (for example
 * the IP that kwok gave a pod), so a real server can run "at the pod's address" and the host can
 * reach it. Everything stays on this machine: the only route to the address is the veth.
 *
 *   host:  route <ip>/32 dev <veth-host>; <veth-host> has HOST_SIDE_IP; forwarding on for packets
 *          that come in on <veth-host> (so test hosts reach each other, like pods do)
 *   ns:    eth0 has <ip>/32; a route to TEST_HOST_NET only, via HOST_SIDE_IP (onlink): no default
 *          route, so nothing inside can reach an address that is not on this machine
 *
 * Needs root and iproute2 (`ip`). Names are derived from a short id so several hosts can coexist.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { POD_CIDR } from "./control-plane";

/** The host's side of every veth: in 198.18.0.0/15 but outside POD_CIDR, never a pod address. */
export const HOST_SIDE_IP = "198.18.255.1";

/** All a test host can reach: pod addresses, other test hosts and HOST_SIDE_IP (RFC 2544 block). */
export const TEST_HOST_NET = "198.18.0.0/15";

/** Where a process started in a test host runs and writes. */
export interface RunOptions {
    readonly cwd?: string;
    /** Appends stdout and stderr to this file instead of piping them to the caller. */
    readonly log?: string;
}

export interface TestHost {
    readonly ip: string;
    readonly namespace: string;
    /** Starts `command` inside the namespace; it dies with this process (pdeathsig). */
    run(
        command: string,
        args: readonly string[],
        env?: NodeJS.ProcessEnv,
        options?: RunOptions,
    ): ChildProcess;
    remove(): void;
}

function ip(args: string[]): void {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function toInt(addr: string): number {
    return addr.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** Whether an IPv4 address lies in a CIDR block. */
export function inCidr(addr: string, cidr: string): boolean {
    const [base, bits] = cidr.split("/");
    const size = 2 ** (32 - Number(bits));
    const start = toInt(base!) - (toInt(base!) % size);
    return isIPv4(addr) && toInt(addr) >= start && toInt(addr) < start + size;
}

/** Only pod addresses may become test hosts (never a real network's). */
export function checkTestHostAddress(addr: string): void {
    if (!inCidr(addr, POD_CIDR)) {
        throw new Error(`test host address ${addr} is not a pod address in ${POD_CIDR}`);
    }
}

export function createTestHost(id: string, addr: string): TestHost {
    checkTestHostAddress(addr);
    if (!/^[a-z0-9]{1,8}$/.test(id))
        throw new Error(`test host id "${id}" must be 1-8 of [a-z0-9]`);
    const namespace = `amlaks-${id}`;
    const hostVeth = `amh-${id}`;
    removeQuietly(namespace, hostVeth);
    try {
        ip(["netns", "add", namespace]);
        ip(["link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", namespace]);
        ip(["addr", "add", `${HOST_SIDE_IP}/32`, "dev", hostVeth]);
        ip(["link", "set", hostVeth, "up"]);
        ip(["route", "add", `${addr}/32`, "dev", hostVeth]);
        // Per-interface switch: only packets arriving from test hosts are forwarded (host-wide
        // ip_forward stays as it is), and they can only be for TEST_HOST_NET (route below).
        writeFileSync(`/proc/sys/net/ipv4/conf/${hostVeth}/forwarding`, "1");
        const inNs = (args: string[]): void => ip(["-n", namespace, ...args]);
        inNs(["link", "set", "lo", "up"]);
        inNs(["addr", "add", `${addr}/32`, "dev", "eth0"]);
        inNs(["link", "set", "eth0", "up"]);
        inNs(["route", "add", HOST_SIDE_IP, "dev", "eth0"]);
        inNs(["route", "add", TEST_HOST_NET, "via", HOST_SIDE_IP, "dev", "eth0", "onlink"]);
    } catch (e) {
        removeQuietly(namespace, hostVeth);
        throw e;
    }
    const children: ChildProcess[] = [];
    return {
        ip: addr,
        namespace,
        run(command, args, env, options = {}) {
            const fd = options.log === undefined ? undefined : openSync(options.log, "a");
            try {
                // `ip netns exec` execs the command: the child's PID is the command's own.
                const child = spawn(
                    "setpriv",
                    [
                        "--pdeathsig",
                        "KILL",
                        "--",
                        "ip",
                        "netns",
                        "exec",
                        namespace,
                        command,
                        ...args,
                    ],
                    {
                        stdio: fd === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", fd, fd],
                        env: env ?? process.env,
                        cwd: options.cwd,
                    },
                );
                children.push(child);
                return child;
            } finally {
                if (fd !== undefined) closeSync(fd);
            }
        },
        remove() {
            for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
            removeQuietly(namespace, hostVeth);
        },
    };
}

function removeQuietly(namespace: string, hostVeth: string): void {
    for (const args of [
        ["link", "del", hostVeth],
        ["netns", "del", namespace],
    ]) {
        try {
            ip(args);
        } catch {
            // not there
        }
    }
}
