#!/usr/bin/env python3
"""amlserver: serves an Azure ML entry script (init()/run()) on the azureml-inference-server-http
contract, with the Python standard library only (Python >= 3.9).

It is the model-server side of the local runtime (docs/design.md §6) and can also run inside model
images where `azmlinfsrv` is not installed. Contract (aml-v1-spec §5):

  GET  /              -> 200 "Healthy" (init() has already run: the server listens only after it);
                         503 while too many timed-out run() calls still run (see below)
  POST /score         -> run(<body as a JSON string>) -> 200 JSON of the return value
  GET  /score?a=1&b=x -> run('{"a": 1, "b": "x"}') (each value parsed as JSON when it can be)
  OPTIONS /score      -> 200; other methods -> 405 {"message": "Method not allowed"}
  GET  /swagger.json[?version=2|3] -> the service's swagger, or 404 when the script declares none
  errors -> {"message": "..."}: 400 bad input, 415 unsupported input, 431 request id too long,
           413 body above 100 MB, 500 run() raised or timed out ("Scoring timeout after N ms"),
           with `x-ms-run-function-failed: True` when run() failed.
  headers: x-ms-run-fn-exec-ms, x-request-id / x-ms-request-id / x-ms-client-request-id, TraceId.

Swagger sources, first found wins:
  1. a `swagger.json` (or `swagger2.json` / `swagger3.json`) file in the source directory, as
     azmlinfsrv does;
  2. a module-level `SWAGGER` dict in the entry script (served for the version it declares);
  3. inference-schema's @input_schema/@output_schema on run(), when that package is installed;
  4. module-level `input_sample` / `output_sample` globals: a swagger 2.0 / OpenAPI 3 document is
     generated with JSON schemas inferred from the samples (the stdlib way to declare a schema).

Configuration (flags win over environment variables):
  --entry-script / AZUREML_ENTRY_SCRIPT      script path, relative to the source directory
  --source-dir / AZUREML_SOURCE_DIRECTORY    put on sys.path and made the working directory
                                             (default: AML_APP_ROOT, else the script's directory)
  --model-dir / AZUREML_MODEL_DIR            exported to the script unchanged
  --port / SERVER_PORT                       default 5001; 0 picks a free port
  --host / SERVER_HOST (or AMLSERVER_HOST)   default 127.0.0.1
  SCORING_TIMEOUT_MS                         per-request run() timeout, default 3600000 (1 h)
  WORKER_COUNT                               concurrent run() calls, default 1 (azmlinfsrv's
                                             default of one worker); more requests wait their turn
  AMLAKS_PARENT_PID                          exit when that process is gone, or when stdin (a pipe
                                             from that parent) reaches end of file (no orphans)
  AMLSERVER_ACCESS_LOG=1                     one access-log line per request on stderr
  AMLSERVER_MAX_ABANDONED_RUNS               GET / answers 503 (unhealthy: restart me) while this
                                             many run() calls that passed the scoring timeout
                                             still run; default WORKER_COUNT. GET / always reports
                                             the count in x-amlserver-abandoned-runs

Exit codes: 0 after SIGTERM/SIGINT (in-flight requests finish first) or when the parent is gone;
2 bad usage; 3 the entry script failed to load or init() raised (traceback on stderr, before the
port is opened); 4 the port could not be bound.

On start-up it prints one line to stdout: `amlserver listening on http://HOST:PORT ...`.
"""

import argparse
import datetime
import importlib.util
import inspect
import json
import os
import shutil
import signal
import socket
import stat
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

__version__ = "1.0.0"

DEFAULT_PORT = 5001
DEFAULT_HOST = "127.0.0.1"
DEFAULT_SCORING_TIMEOUT_MS = 3_600_000  # azmlinfsrv's default (1 h)
MAX_BODY_BYTES = 100 * 1024 * 1024  # R19: 100 MB, as nginx's client_max_body_size 100m
HEADER_LIMIT = 100  # x-request-id and friends, else 431
EXIT_USAGE = 2
EXIT_USER_SCRIPT = 3
EXIT_BIND = 4
PARENT_POLL_SECONDS = 0.25
SWAGGER_VERSIONS = {"2": "2", "2.0": "2", "3": "3", "3.0": "3", "3.1": "3.1"}


def log(message: str) -> None:
    try:
        sys.stderr.write(f"amlserver: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        # stderr is a pipe to a parent that may be gone (BrokenPipeError): never let logging
        # stop a watchdog thread from exiting the process.
        pass


# --------------------------------------------------------------------------------------------
# The user script
# --------------------------------------------------------------------------------------------


class UserScriptError(Exception):
    """The entry script cannot be served (bad signature, missing init/run)."""


class BadInput(Exception):
    status = 400


class UnsupportedInput(Exception):
    status = 415


def _schema_utils() -> Optional[Any]:
    """inference-schema's helpers when the package is installed, else None."""
    try:
        from inference_schema import schema_util  # type: ignore

        return schema_util
    except Exception:
        return None


class UserScript:
    def __init__(self, path: str) -> None:
        self.path = path
        self.module: Any = None
        self.run: Callable[..., Any] = lambda: None
        self.init: Callable[[], Any] = lambda: None
        self.pass_headers = False
        self.schema_decorated = False
        self.first_param = "data"
        self.object_params: List[inspect.Parameter] = []

    def load(self) -> None:
        spec = importlib.util.spec_from_file_location("entry_module", self.path)
        if spec is None or spec.loader is None:
            raise UserScriptError(f"cannot load {self.path} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules["entry_module"] = module
        spec.loader.exec_module(module)
        self.module = module
        if not callable(getattr(module, "init", None)):
            raise UserScriptError(f"entry script {self.path} does not define an init() function")
        if not callable(getattr(module, "run", None)):
            raise UserScriptError(f"entry script {self.path} does not define a run() function")
        self.init = module.init
        # Driver modules (generated by some SDKs) forward to the real script's run(), as azmlinfsrv.
        driver = getattr(module, "driver_module", None)
        if driver is not None and callable(getattr(driver, "run", None)):
            self.run = driver.run
        else:
            self.run = module.run
        self._analyze_run()

    def _analyze_run(self) -> None:
        params = list(inspect.signature(self.run).parameters.values())
        allowed = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if any(p.kind not in allowed for p in params):
            raise UserScriptError("run() cannot accept positional-only arguments, *args, or **kwargs")
        self.pass_headers = any(p.name == "request_headers" for p in params)
        params = [p for p in params if p.name != "request_headers"]
        if not params:
            raise UserScriptError(
                'run() needs to accept an argument other than "request_headers"'
                if self.pass_headers
                else "run() needs to accept an argument for input data"
            )
        self.first_param = params[0].name
        util = _schema_utils()
        self.schema_decorated = bool(util is not None and util.is_schema_decorated(self.run))
        self.object_params = params

    def arguments(self, method: str, body: bytes, query: str, content_type: str) -> Dict[str, Any]:
        """Request -> keyword arguments of run(), as azmlinfsrv's input parsers do."""
        if method == "GET":
            parsed = parse_query(query)
            if self.schema_decorated:
                return self._extract(parsed)
            return {self.first_param: json.dumps(parsed)}
        if self.schema_decorated:
            mime = content_type.split(";", 1)[0].strip().lower()
            if not (mime == "application/json" or mime.endswith("+json")):
                raise UnsupportedInput("Expects Content-Type to be application/json")
            try:
                parsed_body = json.loads(body)
            except ValueError as ex:
                if body:
                    raise BadInput(f"POST body could not be decoded as JSON: {ex}") from None
                raise BadInput("POST body is empty. Expecting a JSON dictionary.") from None
            if not isinstance(parsed_body, dict):
                raise BadInput("POST body should be a JSON dictionary.")
            return self._extract(parsed_body)
        try:
            return {self.first_param: str(body, "utf-8")}
        except UnicodeDecodeError as ex:
            raise BadInput(f"Input cannot be decoded as UTF-8: {ex}") from None

    def _extract(self, parsed: Dict[str, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for p in self.object_params:
            value = parsed.get(p.name, p.default)
            if value is inspect.Parameter.empty:
                raise BadInput(f"A value is not provided for the {p.name!r} parameter.")
            out[p.name] = value
        return out


def parse_query(query: str) -> Dict[str, Any]:
    """`a=1&b=[1,2]&c=x&c=y` -> {"a": 1, "b": [1, 2], "c": ["x", "y"]} (values parsed as JSON)."""

    def value(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            return text

    out: Dict[str, Any] = {}
    for key, values in parse_qs(query, keep_blank_values=True).items():
        out[key] = value(values[0]) if len(values) == 1 else [value(v) for v in values]
    return out


# --------------------------------------------------------------------------------------------
# Swagger
# --------------------------------------------------------------------------------------------


def infer_schema(sample: Any) -> Dict[str, Any]:
    """A JSON schema describing a sample value (types only, the sample as example)."""
    if isinstance(sample, bool):
        return {"type": "boolean"}
    if isinstance(sample, int):
        return {"type": "integer", "format": "int64"}
    if isinstance(sample, float):
        return {"type": "number", "format": "double"}
    if isinstance(sample, str):
        return {"type": "string"}
    if isinstance(sample, (list, tuple)):
        items = infer_schema(sample[0]) if len(sample) > 0 else {}
        if len(sample) > 0 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sample):
            items = {"type": "number", "format": "double"}
        return {"type": "array", "items": items}
    if isinstance(sample, dict):
        return {
            "type": "object",
            "required": list(sample.keys()),
            "properties": {str(k): infer_schema(v) for k, v in sample.items()},
        }
    if sample is None:
        return {"type": "object"}
    tolist = getattr(sample, "tolist", None)  # numpy arrays, pandas objects
    if callable(tolist):
        return infer_schema(tolist())
    return {"type": "object"}


def _jsonable(sample: Any) -> Any:
    tolist = getattr(sample, "tolist", None)
    if callable(tolist):
        return tolist()
    return sample


def swagger_document(version: str, service: str, service_version: str, prefix: str,
                     input_schema: Dict[str, Any], output_schema: Dict[str, Any]) -> Dict[str, Any]:
    """The azmlinfsrv swagger template with the service's input/output schemas filled in."""
    prefix = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
    error = {"type": "object", "properties": {"message": {"type": "string"}}}
    info = {
        "title": service,
        "description": f"API specification for the Azure Machine Learning service {service}",
        "version": service_version,
    }
    if version == "2":
        ref = "#/definitions/"
        return {
            "swagger": "2.0",
            "info": info,
            "schemes": ["https"],
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "securityDefinitions": {
                "Bearer": {"type": "apiKey", "name": "Authorization", "in": "header",
                           "description": "For example: Bearer abc123"}
            },
            "paths": {
                f"{prefix}/": {"get": {
                    "operationId": "ServiceHealthCheck",
                    "description": "Simple health check endpoint to ensure the service is up at any given point.",
                    "responses": {"200": {"description": "The service is up ('Healthy')",
                                          "schema": {"type": "string"}},
                                  "default": {"description": "Error", "schema": {"$ref": ref + "ErrorResponse"}}},
                }},
                f"{prefix}/score": {"post": {
                    "operationId": "RunMLService",
                    "description": "Run web service's model and get the prediction output",
                    "security": [{"Bearer": []}],
                    "parameters": [{"name": "serviceInputPayload", "in": "body",
                                    "description": "The input payload for executing the real-time machine learning service.",
                                    "schema": {"$ref": ref + "ServiceInput"}}],
                    "responses": {"200": {"description": "The prediction",
                                          "schema": {"$ref": ref + "ServiceOutput"}},
                                  "default": {"description": "Error", "schema": {"$ref": ref + "ErrorResponse"}}},
                }},
                f"{prefix}/swagger.json": {"get": {
                    "operationId": "GetSwaggerSpec",
                    "description": "Get the Swagger specification.",
                    "parameters": [{"name": "version", "in": "query", "required": False,
                                    "type": "integer", "enum": [2, 3]}],
                    "responses": {"200": {"description": "The Swagger specification.",
                                          "schema": {"type": "string"}}},
                }},
            },
            "definitions": {"ServiceInput": input_schema, "ServiceOutput": output_schema,
                            "ErrorResponse": error},
        }
    ref = "#/components/schemas/"
    return {
        "openapi": "3.1.0" if version == "3.1" else "3.0.1",
        "info": info,
        "components": {
            "securitySchemes": {"Bearer": {"type": "apiKey", "name": "Authorization", "in": "header",
                                           "description": "For example: Bearer abc123"}},
            "schemas": {"ServiceInput": input_schema, "ServiceOutput": output_schema,
                        "ErrorResponse": error},
        },
        "paths": {
            f"{prefix}/": {"get": {"operationId": "ServiceHealthCheck", "responses": {
                "200": {"description": "The service is up ('Healthy')",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            f"{prefix}/score": {"post": {
                "operationId": "RunMLService",
                "security": [{"Bearer": []}],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": ref + "ServiceInput"}}}},
                "responses": {
                    "200": {"description": "The prediction",
                            "content": {"application/json": {"schema": {"$ref": ref + "ServiceOutput"}}}},
                    "default": {"description": "Error",
                                "content": {"application/json": {"schema": {"$ref": ref + "ErrorResponse"}}}},
                },
            }},
        },
    }


class SwaggerSource:
    """Resolves the documents once at start-up; `get(version)` -> (status, body)."""

    def __init__(self, source_dir: str, script: UserScript, service: str, service_version: str,
                 prefix: str) -> None:
        self.docs: Dict[str, Dict[str, Any]] = {}
        self.origin = "none"
        files = {"2": ["swagger.json", "swagger2.json"], "3": ["swagger3.json"]}
        for version, names in files.items():
            for name in names:
                path = os.path.join(source_dir, name)
                if os.path.isfile(path):
                    with open(path, encoding="utf-8") as f:
                        self.docs[version] = json.load(f)
                    self.origin = f"file {name}"
                    break
        if self.docs:
            return
        module = script.module
        declared = getattr(module, "SWAGGER", None)
        if isinstance(declared, dict):
            version = "2" if str(declared.get("swagger", "")).startswith("2") else (
                "3.1" if str(declared.get("openapi", "")).startswith("3.1") else "3")
            self.docs[version] = declared
            self.origin = "SWAGGER global"
            return
        schemas: Optional[Tuple[Dict[str, Any], Dict[str, Any]]] = None
        util = _schema_utils()
        if script.schema_decorated and util is not None:
            schemas = (util.get_input_schema(script.run), util.get_output_schema(script.run))
            self.origin = "inference-schema decorators"
        elif hasattr(module, "input_sample") and hasattr(module, "output_sample"):
            inp, out = _jsonable(module.input_sample), _jsonable(module.output_sample)
            schemas = (dict(infer_schema(inp), example=inp), dict(infer_schema(out), example=out))
            self.origin = "input_sample/output_sample globals"
        if schemas is not None:
            for version in ("2", "3", "3.1"):
                self.docs[version] = swagger_document(version, service, service_version, prefix,
                                                      schemas[0], schemas[1])

    def get(self, requested: Optional[str]) -> Tuple[int, Dict[str, Any]]:
        requested = requested or "2"
        version = SWAGGER_VERSIONS.get(requested)
        supported = ", ".join(sorted(self.docs))
        if version is None:
            return 404, {"message": f"Swagger version [{requested}] is not valid. "
                                    f"Supported versions: [{supported}]."}
        if not self.docs:
            return 404, {"message": "Swagger is not available: the entry script declares no schema "
                                    "(add input_sample/output_sample, a SWAGGER dict, inference-schema "
                                    "decorators, or a swagger.json file)."}
        doc = self.docs.get(version)
        if doc is None and version == "3.1":
            doc = self.docs.get("3")
        if doc is None:
            return 404, {"message": f"Swagger version [{requested}] is not supported for the scoring "
                                    f"script. Supported swagger versions: [{supported}]."}
        return 200, doc


# --------------------------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------------------------


class TimedOut(Exception):
    pass


class Scorer:
    """Runs run() on a worker thread with the scoring timeout; at most WORKER_COUNT at a time."""

    def __init__(self, script: UserScript, timeout_ms: int, workers: int, max_abandoned: int) -> None:
        self.script = script
        self.timeout_ms = timeout_ms
        self.slots = threading.BoundedSemaphore(workers)
        # run() calls that passed the timeout and still run on their threads (a thread cannot be
        # killed): reported by GET /, which turns 503 at max_abandoned so the replica is recycled.
        self.max_abandoned = max_abandoned
        self.abandoned = 0
        self.abandoned_lock = threading.Lock()

    def abandoned_runs(self) -> int:
        with self.abandoned_lock:
            return self.abandoned

    def __call__(self, kwargs: Dict[str, Any], headers: Dict[str, str]) -> Tuple[Any, float]:
        box: Dict[str, Any] = {}
        done = threading.Event()
        released = threading.Lock()
        state = {"released": False}

        def release() -> None:
            with released:
                if not state["released"]:
                    state["released"] = True
                    self.slots.release()

        state["abandoned"] = False

        def work() -> None:
            start = time.perf_counter()
            try:
                if self.script.pass_headers:
                    box["value"] = self.script.run(**kwargs, request_headers=headers)
                else:
                    box["value"] = self.script.run(**kwargs)
            except BaseException as ex:  # noqa: B902 - report everything run() raises
                box["error"] = ex
                box["trace"] = traceback.format_exc()
            finally:
                box["elapsed_ms"] = (time.perf_counter() - start) * 1e3
                with self.abandoned_lock:
                    done.set()
                    if state["abandoned"]:
                        self.abandoned -= 1
                release()

        self.slots.acquire()
        worker = threading.Thread(target=work, name="run", daemon=True)
        worker.start()
        if not done.wait(self.timeout_ms / 1000.0):
            # The abandoned run() keeps going on its daemon thread; free its slot so the replica
            # keeps serving (a thread cannot be killed in Python), and count it for GET /.
            with self.abandoned_lock:
                if not done.is_set():
                    state["abandoned"] = True
                    self.abandoned += 1
            release()
            raise TimedOut()
        if "error" in box:
            raise box["error"]
        return box["value"], box["elapsed_ms"]


class Connections:
    """Tracks keep-alive connections so a drain can close the idle ones and wait for the busy."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.idle: Dict[int, socket.socket] = {}
        self.in_flight = 0
        self.draining = False

    def set_idle(self, key: int, sock: socket.socket) -> None:
        with self.lock:
            self.idle[key] = sock

    def set_busy(self, key: int) -> bool:
        """Returns False when draining (the request is still served, then the connection closes)."""
        with self.lock:
            self.idle.pop(key, None)
            self.in_flight += 1
            return not self.draining

    def finished(self) -> None:
        with self.lock:
            self.in_flight -= 1
            self.lock.notify_all()

    def gone(self, key: int) -> None:
        with self.lock:
            self.idle.pop(key, None)

    def drain(self, timeout_s: float) -> bool:
        with self.lock:
            self.draining = True
            for sock in self.idle.values():
                try:
                    sock.shutdown(socket.SHUT_RD)  # wakes the handler blocked on the next request
                except OSError:
                    pass
            self.idle.clear()
            deadline = time.monotonic() + timeout_s
            while self.in_flight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
            return True


class App:
    def __init__(self, script: UserScript, scorer: Scorer, swagger: SwaggerSource, access_log: bool) -> None:
        self.script = script
        self.scorer = scorer
        self.swagger = swagger
        self.access_log = access_log
        self.connections = Connections()
        self.server_version_header = os.environ.get("HTTP_X_MS_SERVER_VERSION", "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write, and without Nagle's delay: small keep-alive responses
    # would otherwise wait ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = f"amlserver/{__version__}"
    sys_version = ""
    app: App  # set on the subclass made by main()

    def version_string(self) -> str:
        return self.server_version

    # ---- connection bookkeeping -------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.app.connections.set_idle(id(self), self.connection)

    def parse_request(self) -> bool:
        if not self.app.connections.set_busy(id(self)):
            self.close_connection = True
        self._busy = True
        self._started = time.perf_counter()
        self._extra_headers: List[Tuple[str, str]] = []
        ok = super().parse_request()
        if self.app.connections.draining:
            self.close_connection = True
        return ok

    def handle_one_request(self) -> None:
        self._busy = False
        try:
            super().handle_one_request()
        finally:
            if self._busy:
                self._busy = False
                self.app.connections.finished()
                if not self.close_connection:
                    self.app.connections.set_idle(id(self), self.connection)

    def finish(self) -> None:
        self.app.connections.gone(id(self))
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        # http.server's own messages (bad request lines, etc.) go to stderr only with access logs on.
        if self.app.access_log:
            log(format % args)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if self.app.access_log:
            took = (time.perf_counter() - getattr(self, "_started", time.perf_counter())) * 1e3
            log(f"{self.command} {urlsplit(self.path).path} {code} {took:.3f}ms {size}")

    # ---- helpers ----------------------------------------------------------------------------
    def _request_ids(self) -> Optional[str]:
        """azmlinfsrv's request-id rules; returns an error message for 431, else None."""
        request_id = self.headers.get("x-request-id") or str(uuid.uuid4())
        if len(request_id) > HEADER_LIMIT:
            return f"x-request-id must not exceed {HEADER_LIMIT} characters"
        self._extra_headers.append(("x-request-id", request_id))
        legacy = self.headers.get("x-ms-request-id", "")
        client = self.headers.get("x-ms-client-request-id", "")
        if legacy:
            client = client or legacy
        else:
            legacy = client or request_id
        if len(legacy) > HEADER_LIMIT or len(client) > HEADER_LIMIT:
            self._extra_headers = []
            return f"x-ms-request-id and x-ms-client-request-id must not exceed {HEADER_LIMIT} characters"
        self._extra_headers.append(("x-ms-request-id", legacy))
        if client:
            self._extra_headers.append(("x-ms-client-request-id", client))
        return None

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: Optional[List[Tuple[str, str]]] = None, head_only: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in self._extra_headers + (headers or []):
            self.send_header(name, value)
        if "TraceId" in self.headers:
            self.send_header("TraceId", self.headers["TraceId"])
        if self.app.server_version_header:
            self.send_header("x-ms-server-version", self.app.server_version_header)
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n")  # what end_headers() does, plus the body
        if not head_only and body:
            self._headers_buffer.append(body)
        self.flush_headers()

    def _json(self, status: int, value: Any, headers: Optional[List[Tuple[str, str]]] = None,
              head_only: bool = False) -> None:
        self._send(status, json.dumps(value).encode("utf-8"), headers=headers, head_only=head_only)

    def _error(self, status: int, message: str, run_failed: bool = False) -> None:
        headers = [("x-ms-run-function-failed", "True")] if run_failed else []
        self._json(status, {"message": message}, headers)

    def _read_body(self) -> Optional[bytes]:
        """The request body (Content-Length or chunked); None when an error was already sent."""
        encoding = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in encoding:
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._error(400, f"Invalid Content-Length: {length_header!r}")
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(413, f"Request body exceeds {MAX_BODY_BYTES} bytes (100 MB)")
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> Optional[bytes]:
        parts: List[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                self._error(400, "Malformed chunked request body")
                return None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                self._error(413, f"Request body exceeds {MAX_BODY_BYTES} bytes (100 MB)")
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(3)  # CRLF after the chunk

    def handle_expect_100(self) -> bool:
        length = self.headers.get("Content-Length", "0")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            self._extra_headers = []
            self._error(413, f"Request body exceeds {MAX_BODY_BYTES} bytes (100 MB)")
            return False
        return super().handle_expect_100()

    # ---- routes -----------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        problem = self._request_ids()
        if problem is not None:
            self.close_connection = self.close_connection or method in ("POST", "PUT", "PATCH")
            self._error(431, problem)
            return
        url = urlsplit(self.path)
        path = url.path
        if path == "/":
            if method in ("GET", "HEAD"):
                abandoned = self.app.scorer.abandoned_runs()
                report = [("x-amlserver-abandoned-runs", str(abandoned))]
                if abandoned >= self.app.scorer.max_abandoned:
                    self._send(503, json.dumps({"message": (
                        f"Unhealthy: {abandoned} run() calls abandoned after the scoring timeout are "
                        f"still running (limit {self.app.scorer.max_abandoned}); restart this replica"
                    )}).encode("utf-8"), headers=report, head_only=method == "HEAD")
                else:
                    self._send(200, b"Healthy", "text/plain; charset=utf-8", headers=report,
                               head_only=method == "HEAD")
            else:
                self._discard_body()
                self._error(405, "Method not allowed")
        elif path == "/swagger.json":
            if method in ("GET", "HEAD"):
                version = parse_qs(url.query).get("version", [None])[0]
                status, doc = self.app.swagger.get(version)
                self._json(status, doc, head_only=method == "HEAD")
            else:
                self._discard_body()
                self._error(405, "Method not allowed")
        elif path == "/score":
            self._score(method, url.query)
        else:
            self._discard_body()
            self._error(404, f"Not found: {path}")

    def _discard_body(self) -> None:
        if self.command in ("POST", "PUT", "PATCH", "DELETE"):
            if self._read_body() is None:
                return

    def _score(self, method: str, query: str) -> None:
        if method == "OPTIONS":
            self._discard_body()
            self._send(200, b"", "text/plain; charset=utf-8")
            return
        if method not in ("GET", "POST"):
            self._discard_body()
            self._error(405, "Method not allowed")
            return
        body = b""
        if method == "POST":
            read = self._read_body()
            if read is None:
                return
            body = read
        try:
            kwargs = self.app.script.arguments(method, body, query, self.headers.get("Content-Type", ""))
        except (BadInput, UnsupportedInput) as ex:
            self._error(ex.status, str(ex))
            return
        # Title-Case names, as azmlinfsrv passes dict(flask.request.headers) ("X-Ms-Request-Id").
        headers: Dict[str, str] = {}
        for name in self.headers.keys():
            headers[name.title()] = ", ".join(self.headers.get_all(name) or [])
        try:
            output, elapsed_ms = self.app.scorer(kwargs, headers)
        except TimedOut:
            log(f"run() did not finish within {self.app.scorer.timeout_ms} ms")
            self._error(500, f"Scoring timeout after {self.app.scorer.timeout_ms} ms", run_failed=True)
            return
        except BaseException as ex:  # noqa: B902 - run() failures become 500s
            log("run() raised:\n" + "".join(traceback.format_exception(type(ex), ex, ex.__traceback__)))
            self._error(500, f"An unexpected error occurred in scoring script: {type(ex).__name__}: {ex}",
                        run_failed=True)
            return
        try:
            # Like azmlinfsrv's AMLResponse(json_str=True): any value, a str included, is JSON-encoded.
            encoded = json.dumps(output).encode("utf-8")
        except (TypeError, ValueError) as ex:
            log(f"run() returned a value that is not JSON serializable: {ex}")
            self._error(500, f"run() returned a value that is not JSON serializable: {ex}", run_failed=True)
            return
        self._send(200, encoded, headers=[("x-ms-run-fn-exec-ms", f"{elapsed_ms:.3f}")])

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


class Server(ThreadingHTTPServer):
    daemon_threads = True  # the drain waits for in-flight requests itself
    allow_reuse_address = True
    request_queue_size = 128


# --------------------------------------------------------------------------------------------
# Process life cycle
# --------------------------------------------------------------------------------------------


def watch_parent(parent_pid: int) -> None:
    """Exit when the process that started us is gone, so replicas never outlive the runtime."""
    original_ppid = os.getppid()

    def poll() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            alive = True
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                alive = False
            except PermissionError:
                pass
            # Re-parenting means our parent died even if its pid was reused.
            if parent_pid == original_ppid and os.getppid() != original_ppid:
                alive = False
            if not alive:
                log(f"parent process {parent_pid} is gone; exiting")
                os._exit(0)

    threading.Thread(target=poll, name="parent-watch", daemon=True).start()

    # The local backend gives us a stdin pipe it never writes to: EOF means the parent is gone,
    # even when it was SIGKILLed and its pid was reused at once.
    try:
        mode = os.fstat(0).st_mode
        # Node's "pipe" stdio is a socketpair, other parents use a FIFO.
        stdin_is_pipe = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
    except OSError:
        stdin_is_pipe = False
    if stdin_is_pipe:

        def read_stdin() -> None:
            try:
                while os.read(0, 65536):
                    pass
            except OSError:
                pass
            log(f"stdin closed (parent process {parent_pid} is gone); exiting")
            os._exit(0)

        threading.Thread(target=read_stdin, name="stdin-watch", daemon=True).start()


def positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SystemExit(usage_error(f"{name} must be a whole number, got {text!r}"))
    if value <= 0:
        raise SystemExit(usage_error(f"{name} must be > 0, got {value}"))
    return value


def usage_error(message: str) -> int:
    log(f"error: {message}")
    return EXIT_USAGE


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="amlserver",
        description="Serve an Azure ML entry script (init()/run()) on the azureml-inference-server HTTP contract.",
    )
    parser.add_argument("--entry-script", help="entry script, relative to the source directory (env AZUREML_ENTRY_SCRIPT)")
    parser.add_argument("--source-dir", help="source directory (env AZUREML_SOURCE_DIRECTORY)")
    parser.add_argument("--model-dir", help="model directory exported as AZUREML_MODEL_DIR")
    parser.add_argument("--port", help="port (env SERVER_PORT; default 5001; 0 = any free port)")
    parser.add_argument("--host", help="address to bind (env SERVER_HOST; default 127.0.0.1)")
    parser.add_argument("--use-azmlinfsrv", choices=["auto", "always", "never"], default="never",
                        help="hand over to azmlinfsrv: always; auto = when it is on PATH and the host is not "
                             "loopback (azmlinfsrv always binds 0.0.0.0); default never")
    parser.add_argument("--version", action="version", version=f"amlserver {__version__}")
    return parser.parse_args(argv)


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def exec_azmlinfsrv(entry_script: str, model_dir: Optional[str], port: int) -> None:
    argv = ["azmlinfsrv", "--entry_script", entry_script, "--port", str(port)]
    if model_dir:
        argv += ["--model_dir", model_dir]
    log(f"handing over to azmlinfsrv (listens on 0.0.0.0:{port})")
    sys.stdout.flush()
    os.execvp("azmlinfsrv", argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = os.environ

    entry = args.entry_script or env.get("AZUREML_ENTRY_SCRIPT")
    if not entry:
        return usage_error("no entry script: pass --entry-script or set AZUREML_ENTRY_SCRIPT")
    source_dir = args.source_dir or env.get("AZUREML_SOURCE_DIRECTORY") or env.get("AML_APP_ROOT")
    if not source_dir:
        source_dir = os.path.dirname(os.path.abspath(entry)) if os.path.isabs(entry) else os.getcwd()
    source_dir = os.path.abspath(source_dir)
    script_path = entry if os.path.isabs(entry) else os.path.join(source_dir, entry)
    if not os.path.isdir(source_dir):
        return usage_error(f"source directory {source_dir} does not exist")
    if not os.path.isfile(script_path):
        return usage_error(f"entry script {script_path} does not exist")
    port_text = args.port if args.port is not None else env.get("SERVER_PORT", str(DEFAULT_PORT))
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        return usage_error(f"port must be a whole number in 0-65535, got {port_text!r}")
    host = args.host or env.get("SERVER_HOST") or env.get("AMLSERVER_HOST") or DEFAULT_HOST
    timeout_ms = positive_int("SCORING_TIMEOUT_MS", env.get("SCORING_TIMEOUT_MS", str(DEFAULT_SCORING_TIMEOUT_MS)))
    workers = positive_int("WORKER_COUNT", env.get("WORKER_COUNT", "1"))
    # Default: as many abandoned run() calls as the replica has workers — it then spends at least
    # as much CPU on orphaned work as on requests.
    max_abandoned = positive_int("AMLSERVER_MAX_ABANDONED_RUNS",
                                 env.get("AMLSERVER_MAX_ABANDONED_RUNS", str(workers)))
    parent = env.get("AMLAKS_PARENT_PID")

    if args.use_azmlinfsrv != "never":
        found = shutil.which("azmlinfsrv") is not None
        if args.use_azmlinfsrv == "always" and not found:
            return usage_error("--use-azmlinfsrv always: azmlinfsrv is not on PATH")
        if found and (args.use_azmlinfsrv == "always" or not is_loopback(host)):
            exec_azmlinfsrv(os.path.relpath(script_path, source_dir), args.model_dir, port)

    # The contract's environment, as the AML image sets it (aml-v1-spec §5).
    env["AML_APP_ROOT"] = env.get("AML_APP_ROOT") or source_dir
    env["AZUREML_SOURCE_DIRECTORY"] = source_dir
    env["AZUREML_ENTRY_SCRIPT"] = os.path.relpath(script_path, source_dir)
    if args.model_dir:
        env["AZUREML_MODEL_DIR"] = os.path.abspath(args.model_dir)
    env["SERVER_PORT"] = str(port)
    env["SCORING_TIMEOUT_MS"] = str(timeout_ms)
    env.setdefault("SERVICE_NAME", "ML service")
    env.setdefault("SERVICE_VERSION", "1.0")
    env.setdefault("WORKSPACE_NAME", "local")
    env.setdefault("SERVICE_PATH_PREFIX", "")
    env.setdefault("AZUREML_LOG_LEVEL", "INFO")
    env.setdefault("HOSTNAME", socket.gethostname())

    if parent:
        try:
            watch_parent(int(parent))
        except ValueError:
            return usage_error(f"AMLAKS_PARENT_PID must be a process id, got {parent!r}")

    stopping = threading.Event()
    server_box: Dict[str, Server] = {}

    def on_signal(signum: int, _frame: Any) -> None:
        if "server" not in server_box:
            # Still in init(): nothing to drain.
            raise SystemExit(0)
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server_box["server"].shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Load the script and run init() before opening the port: listening means ready.
    sys.path.insert(0, source_dir)
    os.chdir(source_dir)
    script = UserScript(script_path)
    started = time.perf_counter()
    try:
        script.load()
        script.init()
        swagger = SwaggerSource(source_dir, script, env["SERVICE_NAME"], env["SERVICE_VERSION"],
                                env["SERVICE_PATH_PREFIX"])
    except SystemExit:
        raise
    except BaseException:
        sys.stderr.write(traceback.format_exc())
        log(f"entry script {script_path} failed to initialise; not serving")
        return EXIT_USER_SCRIPT
    init_ms = (time.perf_counter() - started) * 1e3

    handler = type("BoundHandler", (Handler,), {})
    handler.app = App(script, Scorer(script, timeout_ms, workers, max_abandoned), swagger,
                      env.get("AMLSERVER_ACCESS_LOG", "") in ("1", "true", "True"))
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        Server.address_family = family
        server = Server((host, port), handler)
    except OSError as ex:
        log(f"cannot listen on {host}:{port}: {ex}")
        return EXIT_BIND
    server_box["server"] = server
    bound_port = server.server_address[1]
    shown_host = f"[{host}]" if ":" in host else host
    print(
        f"amlserver listening on http://{shown_host}:{bound_port} "
        f"(pid {os.getpid()}, entry script {env['AZUREML_ENTRY_SCRIPT']}, init {init_ms:.1f} ms, "
        f"swagger: {swagger.origin}, {datetime.datetime.now().isoformat(timespec='seconds')})",
        flush=True,
    )
    # A signal that arrived since the port opened has already requested shutdown: this returns at once.
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    grace = timeout_ms / 1000.0 + 5
    if not handler.app.connections.drain(grace):
        log("in-flight requests did not finish in time; exiting anyway")
    log("stopped")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
