/**
 * Entry point of the schema inference (the language host analyzes this file because package.json
 * `main` points into ../dist, which has declarations but no sources): the components it finds
 * through this export are the package's resources. The running plugin loads `main` itself, the
 * same built library, so the schema describes exactly the code that serves it.
 */
export * from "../dist/index";
