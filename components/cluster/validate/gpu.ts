/** The NVIDIA device plugin (R7, R9). */
import { BOOLEAN_RULE, named, plainValue } from "../../common/validation";
import type { CheckContext } from "./context";
import { imageRule } from "./router";

/**
 * Checks the plugin args; returns whether to install the plugin when the args decide it
 * (`undefined`: decided by the VM size).
 */
export function checkGpu({ p, a }: CheckContext): boolean | undefined {
    const install = plainValue<unknown>(a.installNvidiaDevicePlugin);
    if (install !== undefined && typeof install !== "boolean") {
        p.add("installNvidiaDevicePlugin", install, BOOLEAN_RULE);
    }
    named(
        p,
        "nvidiaDevicePluginImage",
        a.nvidiaDevicePluginImage,
        imageRule("nvcr.io/nvidia/k8s-device-plugin:v0.17.0"),
    );
    return typeof install === "boolean" ? install : undefined;
}
