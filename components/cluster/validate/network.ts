/** Network plugin, policy engine and address ranges (R11; ranges in create mode only). */
import { checkArmId } from "../../common/arm-id";
import {
    ArgBag,
    isSet,
    onlyWithRule,
    plainValue,
    Problems,
    requiredRule,
    shownValue,
} from "../../common/validation";
import { CLUSTER_DEFAULTS } from "../defaults";
import {
    AKS_RESERVED_SERVICE_RANGES,
    Cidr,
    cidrContains,
    cidrsOverlap,
    formatIpv4,
    isNetworkAligned,
    MAX_SERVICE_CIDR_PREFIX_BITS,
    parseCidr,
    parseIpv4,
} from "../network";
import { NetworkChoice, resolveNetworkChoice } from "../network-profile";
import type { CheckContext } from "./context";

export function checkNetwork({ p, a, mode }: CheckContext): NetworkChoice {
    const network = resolveNetworkChoice(
        p,
        plainValue(a.networkPlugin),
        plainValue(a.networkPluginMode),
        plainValue(a.networkPolicy),
    );
    if (mode === "create") checkAddressRanges(p, a, network);
    return network;
}

/** `<field>` must be a CIDR (a network address when `aligned`); the parsed range when it is. */
function cidrArg(p: Problems, a: ArgBag, field: string, aligned: boolean): Cidr | undefined {
    const v = plainValue<unknown>(a[field]);
    if (v === undefined) return undefined;
    const c = typeof v === "string" ? parseCidr(v) : undefined;
    if (!c) {
        p.add(field, v, "must be an IPv4 CIDR such as 10.0.0.0/16");
        return undefined;
    }
    if (aligned && !isNetworkAligned(c)) {
        p.add(
            field,
            v,
            `must be a network address: did you mean ${formatIpv4(c.network)}/${c.prefix}?`,
        );
        return undefined;
    }
    return c;
}

/** Which args go together, and that service, pod, bridge and subnet ranges are disjoint. */
function checkAddressRanges(p: Problems, a: ArgBag, net: NetworkChoice): void {
    // "azure" below means Azure CNI in subnet mode (pods take subnet addresses, no pod range).
    const azure = !net.usesPodCidr;
    if (net.needsSubnet) {
        const rule = requiredRule(
            'with networkPlugin "azure" in subnet mode (Azure CNI joins an existing subnet: give vnetSubnetId, serviceCidr and dnsServiceIp together, or set networkPluginMode "overlay")',
        );
        for (const f of ["vnetSubnetId", "serviceCidr", "dnsServiceIp"]) {
            if (!isSet(a[f])) p.add(f, undefined, rule);
        }
        if (isSet(a.podCidr)) {
            p.add(
                "podCidr",
                shownValue(a.podCidr),
                onlyWithRule(
                    'networkPlugin "kubenet" or networkPluginMode "overlay"',
                    "Azure CNI in subnet mode gives pods addresses from the subnet",
                ),
            );
        }
    } else {
        // kubenet accepts a custom service range too, but the pair goes together.
        if (isSet(a.serviceCidr) && !isSet(a.dnsServiceIp)) {
            p.add(
                "dnsServiceIp",
                undefined,
                requiredRule("when serviceCidr is set (give both or neither)"),
            );
        }
        if (isSet(a.dnsServiceIp) && !isSet(a.serviceCidr)) {
            p.add(
                "serviceCidr",
                undefined,
                requiredRule("when dnsServiceIp is set (give both or neither)"),
            );
        }
    }
    if (isSet(a.vnetSubnetAddressPrefix) && !isSet(a.vnetSubnetId)) {
        p.add(
            "vnetSubnetAddressPrefix",
            shownValue(a.vnetSubnetAddressPrefix),
            onlyWithRule("vnetSubnetId"),
        );
    }
    checkArmId(p, "vnetSubnetId", a.vnetSubnetId, "subnet");

    const service = cidrArg(p, a, "serviceCidr", true);
    const pod = azure ? undefined : cidrArg(p, a, "podCidr", true);
    const bridge = cidrArg(p, a, "dockerBridgeCidr", false); // a bridge address such as 172.17.0.1/16
    const subnet = cidrArg(p, a, "vnetSubnetAddressPrefix", false);

    if (service) {
        if (service.prefix < MAX_SERVICE_CIDR_PREFIX_BITS) {
            p.add(
                "serviceCidr",
                service.text,
                `is larger than /${MAX_SERVICE_CIDR_PREFIX_BITS}; Kubernetes allows at most /${MAX_SERVICE_CIDR_PREFIX_BITS} for services`,
            );
        }
        for (const r of AKS_RESERVED_SERVICE_RANGES) {
            const reserved = parseCidr(r);
            if (reserved && cidrsOverlap(service, reserved)) {
                p.add(
                    "serviceCidr",
                    service.text,
                    `overlaps ${r}, which AKS reserves; choose another range`,
                );
            }
        }
    }
    const dnsText = plainValue<unknown>(a.dnsServiceIp);
    if (dnsText !== undefined) {
        const ip = typeof dnsText === "string" ? parseIpv4(dnsText) : undefined;
        if (ip === undefined) {
            p.add("dnsServiceIp", dnsText, "must be an IPv4 address such as 10.0.0.10");
        } else if (service) {
            if (!cidrContains(service, ip)) {
                p.add("dnsServiceIp", dnsText, `must be inside serviceCidr ${service.text}`);
            } else if (
                ip === service.network ||
                ip === service.network + 1 ||
                ip === service.last
            ) {
                p.add(
                    "dnsServiceIp",
                    dnsText,
                    `must not be the network address, the first address (used by the kubernetes service) or the broadcast address of serviceCidr ${service.text}`,
                );
            }
        }
    }

    // Overlaps. When serviceCidr/podCidr are not given, AKS uses its defaults: check those too.
    const serviceForOverlap =
        service ?? (isSet(a.serviceCidr) ? undefined : parseCidr(CLUSTER_DEFAULTS.serviceCidr));
    const serviceLabel = service
        ? `serviceCidr ${service.text}`
        : `the default serviceCidr ${CLUSTER_DEFAULTS.serviceCidr}`;
    const podForOverlap = azure
        ? undefined
        : (pod ?? (isSet(a.podCidr) ? undefined : parseCidr(CLUSTER_DEFAULTS.podCidr)));
    const podLabel = pod
        ? `podCidr ${pod.text}`
        : `the default podCidr ${CLUSTER_DEFAULTS.podCidr}`;
    if (pod && serviceForOverlap && cidrsOverlap(pod, serviceForOverlap)) {
        p.add(
            "podCidr",
            pod.text,
            `overlaps ${serviceLabel}; pod and service ranges must be disjoint`,
        );
    } else if (service && !pod && podForOverlap && cidrsOverlap(service, podForOverlap)) {
        p.add(
            "serviceCidr",
            service.text,
            `overlaps ${podLabel}; pod and service ranges must be disjoint`,
        );
    }
    if (bridge) {
        if (serviceForOverlap && cidrsOverlap(bridge, serviceForOverlap)) {
            p.add(
                "dockerBridgeCidr",
                bridge.text,
                `overlaps ${serviceLabel}; the docker bridge must not be in the service range`,
            );
        }
        if (podForOverlap && cidrsOverlap(bridge, podForOverlap)) {
            p.add(
                "dockerBridgeCidr",
                bridge.text,
                `overlaps ${podLabel}; the docker bridge must not be in the pod range`,
            );
        }
        if (subnet && cidrsOverlap(bridge, subnet)) {
            p.add(
                "dockerBridgeCidr",
                bridge.text,
                `overlaps the subnet ${subnet.text} (vnetSubnetAddressPrefix); the docker bridge must not be in any subnet`,
            );
        }
    }
    if (subnet) {
        if (service && cidrsOverlap(subnet, service)) {
            p.add(
                "serviceCidr",
                service.text,
                `overlaps the subnet ${subnet.text} (vnetSubnetAddressPrefix); the service range must not overlap any subnet`,
            );
        } else if (
            !isSet(a.serviceCidr) &&
            serviceForOverlap &&
            cidrsOverlap(subnet, serviceForOverlap)
        ) {
            p.add(
                "vnetSubnetAddressPrefix",
                subnet.text,
                `overlaps the default serviceCidr ${CLUSTER_DEFAULTS.serviceCidr}; set serviceCidr and dnsServiceIp to a range outside the subnet`,
            );
        }
        if (pod && cidrsOverlap(subnet, pod)) {
            p.add(
                "podCidr",
                pod.text,
                `overlaps the subnet ${subnet.text} (vnetSubnetAddressPrefix); the pod range must not overlap the subnet`,
            );
        } else if (
            !azure &&
            !isSet(a.podCidr) &&
            podForOverlap &&
            cidrsOverlap(subnet, podForOverlap)
        ) {
            p.add(
                "vnetSubnetAddressPrefix",
                subnet.text,
                `overlaps the default podCidr ${CLUSTER_DEFAULTS.podCidr}; set podCidr to a range outside the subnet`,
            );
        }
    }
}
