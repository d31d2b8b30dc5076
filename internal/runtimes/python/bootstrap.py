"""ember's Lambda runtime client for Python.

Implements the public Lambda Runtime API loop: import the handler named by
_HANDLER from LAMBDA_TASK_ROOT, then fetch invocations from
$AWS_LAMBDA_RUNTIME_API, call the handler with a Lambda-like context and post
its result or error. Standard library only; one kept-alive connection.
"""

import datetime
import decimal
import importlib
import json
import logging
import os
import signal
import socket
import sys
import time
import traceback

API_PREFIX = "/2018-06-01/runtime"

# The request id of the invocation in progress, for log lines.
_request_id = ""


def _write_through():
    # Lambda's python runtime flushes every write; -u does so for the binary
    # layer, this makes the text layer pass writes straight through too.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(write_through=True)
        except (AttributeError, ValueError):
            pass


class RuntimeClient:
    """A minimal HTTP/1.1 client for the Runtime API on one kept-alive socket.

    http.client would do, but it parses headers with the email package and
    sends a request's head and body in separate writes; on the per-invocation
    path that costs more than the rest of the client together.
    """

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        if not host:
            host, port = address, "80"
        self.host = host
        self.port = int(port)
        self.sock = None
        self.rfile = None

    def _connect(self):
        # No timeout: invocation/next blocks until there is work.
        self.sock = socket.create_connection((self.host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")

    def close(self):
        if self.sock is not None:
            self.rfile.close()
            self.sock.close()
        self.sock = self.rfile = None

    def request(self, method, path, body=b"", headers=()):
        """Returns (status, headers with lower-case names, body)."""
        head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %d\r\n" % (
            method, path, self.host, self.port, len(body))
        head += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
        data = head.encode("latin-1") + body
        # A kept-alive socket the server has closed fails on first use;
        # nothing was processed then, so retry once on a fresh one.
        for attempt in (0, 1):
            reused = self.sock is not None
            if not reused:
                self._connect()
            try:
                try:
                    self.sock.sendall(data)
                except ConnectionError:
                    # The server may answer before reading all of a large
                    # body (413) and close; its answer may still be readable.
                    if not reused:
                        return self._read_response()
                    raise
                return self._read_response()
            except (ConnectionError, EOFError):
                self.close()
                if attempt or not reused:
                    raise

    def _read_response(self):
        rfile = self.rfile
        line = rfile.readline(65537)
        if not line:
            raise EOFError("Runtime API closed the connection")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise ConnectionError("bad status line from the Runtime API: %r" % line)
        status = int(parts[1])
        headers = {}
        while True:
            line = rfile.readline(65537)
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise EOFError("Runtime API closed the connection")
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(rfile.readline(65537).split(b";", 1)[0], 16)
                if size == 0:
                    while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self._read_exact(size))
                rfile.readline(65537)
            body = b"".join(chunks)
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        else:
            body = rfile.read()
            self.close()
            return status, headers, body
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def _read_exact(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise EOFError("Runtime API closed the connection mid-body")
        return data

    def next(self):
        return self.request("GET", API_PREFIX + "/invocation/next")

    def post(self, path, payload, error_type=None):
        headers = [("Content-Type", "application/json")]
        if error_type:
            headers.append(("Lambda-Runtime-Function-Error-Type", error_type))
        status, _, data = self.request("POST", API_PREFIX + path, payload, headers)
        return status, data


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, doc=None):
        doc = doc or {}
        self.cognito_identity_id = doc.get("cognitoIdentityId")
        self.cognito_identity_pool_id = doc.get("cognitoIdentityPoolId")


class Client:
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code",
                 "app_package_name")

    def __init__(self, doc):
        for name in self.__slots__:
            setattr(self, name, doc.get(name))


class ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, doc):
        client = doc.get("client")
        self.client = Client(client) if isinstance(client, dict) else None
        self.custom = doc.get("custom")
        self.env = doc.get("env")


class LambdaContext:
    """The context object handed to handlers, as Lambda's python runtime shapes it."""

    def __init__(self, request_id, deadline_ms, function_arn, identity, client_context):
        env = os.environ
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = function_arn
        try:
            self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        except ValueError:
            self.memory_limit_in_mb = 128
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = identity
        self.client_context = client_context
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return ("LambdaContext([aws_request_id={0.aws_request_id},log_group_name={0.log_group_name},"
                "log_stream_name={0.log_stream_name},function_name={0.function_name},"
                "memory_limit_in_mb={0.memory_limit_in_mb},function_version={0.function_version},"
                "invoked_function_arn={0.invoked_function_arn}])").format(self)


class LambdaFormatter(logging.Formatter):
    """[LEVEL]\\t2024-01-02T03:04:05.678Z\\trequest-id\\tmessage, as on Lambda."""

    def __init__(self):
        super().__init__("[%(levelname)s]\t%(asctime)s\t%(aws_request_id)s\t%(message)s\n")

    def formatTime(self, record, datefmt=None):
        t = time.gmtime(record.created)
        return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03dZ" % int(record.msecs)


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id
        return True


class StdoutHandler(logging.StreamHandler):
    # The format already ends in a newline (Lambda keeps the message whole).
    terminator = ""

    def __init__(self):
        super().__init__(sys.stdout)


def setup_logging():
    root = logging.getLogger()
    handler = StdoutHandler()
    handler.setFormatter(LambdaFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in ("TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"):
        root.setLevel({"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level))


def log_error(error_type, message, stack):
    # Lambda's python runtime logs every error it reports.
    lines = ["[ERROR] %s: %s" % (error_type, message)]
    if stack:
        lines.append("Traceback (most recent call last):")
        lines.extend(s.rstrip("\n") for s in stack)
    sys.stdout.write("\n".join(lines) + "\n")


class InitError(Exception):
    def __init__(self, error_type, message, stack=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


def load_handler(spec):
    """Resolve "dir/module.func" (or "pkg.module.func") to a callable."""
    module_path, dot, func_name = spec.rpartition(".")
    if not dot or not module_path or not func_name:
        raise InitError("Runtime.MalformedHandlerName",
                        "Bad handler '%s': not enough values to unpack (expected 2, got 1)" % spec)
    module_name = module_path.strip("/").replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as e:
        where = '  File "%s" Line %s\n        %s\n' % (e.filename, e.lineno, (e.text or "").strip())
        raise InitError("Runtime.UserCodeSyntaxError",
                        "Syntax error in module '%s': %s" % (module_name, e), [where])
    except ImportError as e:
        raise InitError("Runtime.ImportModuleError",
                        "Unable to import module '%s': %s" % (module_name, e))
    except Exception as e:
        raise InitError(type(e).__name__, str(e), user_stack(e.__traceback__))
    try:
        handler = getattr(module, func_name)
    except AttributeError:
        raise InitError("Runtime.HandlerNotFound",
                        "Handler '%s' missing on module '%s'" % (func_name, module_name))
    if not callable(handler):
        raise InitError("Runtime.HandlerNotFound",
                        "Handler '%s' on module '%s' is not callable" % (func_name, module_name))
    return handler


def user_stack(tb):
    """traceback.format_tb lines without this client's and importlib's frames."""
    frames = [f for f in traceback.extract_tb(tb)
              if f.filename != __file__ and not f.filename.startswith("<frozen importlib")]
    return traceback.format_list(frames)


def _json_default(obj):
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)


def error_body(error_type, message, stack, request_id=None):
    body = {"errorMessage": message, "errorType": error_type}
    if request_id is not None:
        body["requestId"] = request_id
    body["stackTrace"] = stack
    return json.dumps(body).encode()


def header(headers, name):
    return headers.get(name.lower(), "")


def parse_json_header(value):
    if not value:
        return None
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def invoke(client, handler, resp, body):
    global _request_id
    request_id = header(resp, "Lambda-Runtime-Aws-Request-Id")
    _request_id = request_id
    trace_id = header(resp, "Lambda-Runtime-Trace-Id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        deadline_ms = int(header(resp, "Lambda-Runtime-Deadline-Ms"))
    except ValueError:
        deadline_ms = int(time.time() * 1000) + 3000
    cc = parse_json_header(header(resp, "Lambda-Runtime-Client-Context"))
    context = LambdaContext(
        request_id, deadline_ms, header(resp, "Lambda-Runtime-Invoked-Function-Arn"),
        CognitoIdentity(parse_json_header(header(resp, "Lambda-Runtime-Cognito-Identity"))),
        ClientContext(cc) if cc is not None else None)
    base = "/invocation/%s" % request_id

    def fail(error_type, message, stack):
        log_error(error_type, message, stack)
        client.post(base + "/error", error_body(error_type, message, stack, request_id), error_type)

    try:
        event = json.loads(body) if body else None
    except ValueError as e:
        fail("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e, [])
        return
    try:
        result = handler(event, context)
    except Exception as e:
        fail(type(e).__name__, str(e), user_stack(e.__traceback__))
        return
    try:
        payload = json.dumps(result, default=_json_default, allow_nan=False).encode()
    except (TypeError, ValueError, OverflowError) as e:
        fail("Runtime.MarshalError", "Unable to marshal response: %s" % e, [])
        return
    status, data = client.post(base + "/response", payload)
    if status == 413:
        fail("Function.ResponseSizeTooLarge",
             "Response payload size (%d bytes) exceeded maximum allowed payload size (6291556 bytes)."
             % len(payload), [])
    elif status >= 300:
        sys.stderr.write("ember runtime: posting response: HTTP %d: %s\n"
                         % (status, data.decode("utf-8", "replace")))


def on_sigterm(signum, frame):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)


def main():
    global _request_id
    _write_through()
    signal.signal(signal.SIGTERM, on_sigterm)
    api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        sys.stderr.write("ember runtime: AWS_LAMBDA_RUNTIME_API is not set\n")
        return 1
    task_root = os.path.abspath(os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))
    # Python put this client's directory first on sys.path; the function's
    # code takes its place so its modules (even one named bootstrap) win.
    sys.path[0] = task_root
    try:
        os.chdir(task_root)
    except OSError:
        pass
    setup_logging()
    client = RuntimeClient(api)

    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except InitError as e:
        log_error(e.error_type, e.message, e.stack)
        client.post("/init/error", error_body(e.error_type, e.message, e.stack), e.error_type)
        return 1

    while True:
        status, resp, body = client.next()
        if status != 200:
            sys.stderr.write("ember runtime: invocation/next: HTTP %d\n" % status)
            return 1
        invoke(client, handler, resp, body)
        _request_id = ""


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        # The Runtime API went away: nothing to report to, nothing to do.
        sys.stderr.write("ember runtime: %s\n" % e)
        sys.exit(1)
