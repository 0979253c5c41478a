/**
 * Pipeline step before `pulumi up`: writes the build context of the complete service image (the
 * environment image + src/ + the three models laid out as Azure ML does), the image the program
 * deploys with `modelDelivery: "prebuilt"`.
 *
 *   npx tsx build-context.ts <environment image pinned by digest> <output folder>
 *   docker build -t <registry>/amlaks-apps/diabetes-models:<tag> <output folder>
 *   docker push <registry>/amlaks-apps/diabetes-models:<tag>   # prints the digest
 *   pulumi config set imageRef <registry>/amlaks-apps/diabetes-models@sha256:<digest>
 *
 * The environment image is any image with Python and `azmlinfsrv` on port 5001: one a ModelImage
 * built, or an Azure ML inference base image with azureml-inference-server-http installed.
 */
// In your own program: import { renderAppLayerContext } from "@amlaks/pulumi-aml-aks";
import { renderAppLayerContext, type AppLayerContext } from "../../index";
import { ENTRY_SCRIPT, MODELS, SOURCE_DIRECTORY } from "./service";

/** Writes (or reuses, when unchanged) the context in `directory`. */
export function writeContext(
    environmentImage: string,
    directory: string,
): Promise<AppLayerContext> {
    return renderAppLayerContext({
        directory,
        environmentImage,
        sourceDirectory: SOURCE_DIRECTORY,
        entryScript: ENTRY_SCRIPT,
        models: MODELS,
    });
}

if (require.main === module) {
    const [environmentImage, directory] = process.argv.slice(2);
    if (!environmentImage || !directory) {
        process.stderr.write(
            "usage: npx tsx build-context.ts <environment image@sha256:...> <dir>\n",
        );
        process.exit(2);
    }
    writeContext(environmentImage, directory).then(
        (c) => {
            process.stdout.write(
                `wrote ${c.directory} (content hash ${c.hash.slice(0, 32)}); ` +
                    `AZUREML_MODEL_DIR=${c.env.AZUREML_MODEL_DIR}\n`,
            );
        },
        (e: Error) => {
            process.stderr.write(`${e.message}\n`);
            process.exit(1);
        },
    );
}
