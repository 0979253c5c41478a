/** Script of the export worker when the router runs from compiled files or through tsx (worker.ts). */
import { runExportWorker } from "./worker";

runExportWorker();
