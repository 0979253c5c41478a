/**
 * What the service is made of, shared by the program (index.ts) and the pipeline step that builds
 * its image (build-context.ts), so both lay the models out the same way.
 */
import * as path from "node:path";

/** Service name: the URL path is /api/v1/service/diabetes-models/score. */
export const SERVICE_NAME = "diabetes-models";
/** Project folder deployed with the entry script. */
export const SOURCE_DIRECTORY = path.join(__dirname, "src");
/** Relative to SOURCE_DIRECTORY. */
export const ENTRY_SCRIPT = "score.py";
/**
 * Three model files: named after their base names (`ridge`, `lasso`, `linear`), version 1, under
 * AZUREML_MODEL_DIR=/var/azureml-app/azureml-models as `<name>/1/<file>`.
 */
export const MODELS = ["ridge", "lasso", "linear"].map((m) =>
    path.join(__dirname, "models", `${m}.json`),
);
