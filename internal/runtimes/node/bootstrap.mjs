// ember's Lambda runtime client for Node.js.
//
// Implements the public Lambda Runtime API loop: import the handler named by
// _HANDLER from LAMBDA_TASK_ROOT (CommonJS or ES module), then fetch
// invocations from $AWS_LAMBDA_RUNTIME_API, call the handler (async or
// callback style) with a Lambda-like context and post its result or error.
// Node's standard library only; one keep-alive connection.

import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import util from "node:util";

const PREFIX = "/2018-06-01/runtime";
const env = process.env;

// ---- Runtime API client -------------------------------------------------

function apiAddress() {
  const addr = env.AWS_LAMBDA_RUNTIME_API;
  if (!addr) {
    process.stderr.write("ember runtime: AWS_LAMBDA_RUNTIME_API is not set\n");
    process.exit(1);
  }
  const i = addr.lastIndexOf(":");
  return i < 0 ? { host: addr, port: 80 } : { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}

const { host, port } = apiAddress();
// One kept-alive socket; the agent unrefs it while idle, so it never keeps
// the event loop alive on its own (callbackWaitsForEmptyEventLoop relies on that).
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, urlPath, body, headers = {}, retry = true) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: urlPath, agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", (err) => {
      // The server may close a kept-alive socket between requests; nothing
      // was processed then, so one retry on a fresh socket is safe.
      if (retry && req.reusedSocket && err.code === "ECONNRESET") {
        request(method, urlPath, body, headers, false).then(resolve, reject);
      } else {
        reject(err);
      }
    });
    req.end(body);
  });
}

function post(urlPath, payload, errorType) {
  const headers = { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) };
  if (errorType) headers["Lambda-Runtime-Function-Error-Type"] = errorType;
  return request("POST", PREFIX + urlPath, payload, headers);
}

// ---- Logging --------------------------------------------------------------

// The request id in log lines; "undefined" outside an invocation, as on Lambda.
let requestId;

function patchConsole() {
  const writer = (level) => (...args) => {
    process.stdout.write(`${new Date().toISOString()}\t${requestId}\t${level}\t${util.format(...args)}\n`);
  };
  console.log = writer("INFO");
  console.info = writer("INFO");
  console.debug = writer("DEBUG");
  console.warn = writer("WARN");
  console.error = writer("ERROR");
  const trace = writer("TRACE");
  console.trace = (...args) => {
    const err = { name: "Trace", message: util.format(...args) };
    Error.captureStackTrace(err, console.trace);
    trace(err.stack);
  };
}

// ---- Errors ---------------------------------------------------------------

// errorInfo turns anything thrown or passed to a callback into Lambda's
// error shape. Non-Error values keep their JavaScript type as errorType.
function errorInfo(err) {
  if (err instanceof Error || (err !== null && typeof err === "object" && typeof err.message === "string")) {
    const name = typeof err.name === "string" && err.name ? err.name : err.constructor?.name || "Error";
    const stack = typeof err.stack === "string" ? err.stack.split("\n") : [];
    return { errorType: name, errorMessage: String(err.message), stackTrace: stack };
  }
  let message;
  try {
    message = typeof err === "string" ? err : JSON.stringify(err) ?? String(err);
  } catch {
    message = String(err);
  }
  return { errorType: err === null ? "null" : typeof err, errorMessage: message, stackTrace: [] };
}

class InitError extends Error {
  constructor(errorType, message, stackTrace = []) {
    super(message);
    this.errorType = errorType;
    this.stackTrace = stackTrace;
  }
}

// ---- Handler loading ------------------------------------------------------

// loadHandler resolves "dir/file.func" (func may be a dotted property path)
// to a function, importing file.js, file.mjs or file.cjs from root. import()
// gives .js the module type of the nearest package.json, as Lambda does.
async function loadHandler(root, spec) {
  const slash = spec.lastIndexOf("/");
  const last = spec.slice(slash + 1);
  const dot = last.indexOf(".");
  if (!spec || dot <= 0 || dot === last.length - 1) {
    throw new InitError("Runtime.MalformedHandlerName", `Bad handler ${spec}`);
  }
  const modName = spec.slice(0, slash + 1) + last.slice(0, dot);
  const fnPath = last.slice(dot + 1);
  const base = path.resolve(root, modName);

  let file = [".js", ".mjs", ".cjs"].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    // A directory with an index file, or a package in node_modules.
    const require = createRequire(path.join(root, "noop.js"));
    for (const candidate of [base, modName]) {
      try {
        file = require.resolve(candidate);
        break;
      } catch {
        // try the next candidate
      }
    }
  }
  if (!file) {
    throw new InitError("Runtime.ImportModuleError", `Error: Cannot find module '${modName}'`);
  }

  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new InitError("Runtime.UserCodeSyntaxError", `${err.name}: ${err.message}`, stackLines(err));
    }
    if (err?.code === "MODULE_NOT_FOUND" || err?.code === "ERR_MODULE_NOT_FOUND") {
      throw new InitError("Runtime.ImportModuleError", `Error: ${err.message}`, stackLines(err));
    }
    const info = errorInfo(err);
    throw new InitError(info.errorType, info.errorMessage, info.stackTrace);
  }

  // A CommonJS module's named exports are found by static analysis; the
  // whole module.exports is always the default export.
  let fn = property(mod, fnPath);
  if (fn === undefined && mod.default !== undefined && mod.default !== null) fn = property(mod.default, fnPath);
  if (typeof fn !== "function") {
    throw new InitError("Runtime.HandlerNotFound", `${modName}.${fnPath} is undefined or not exported`);
  }
  return fn;
}

function property(obj, dotted) {
  for (const part of dotted.split(".")) {
    if (obj === undefined || obj === null) return undefined;
    obj = obj[part];
  }
  return obj;
}

function stackLines(err) {
  return typeof err?.stack === "string" ? err.stack.split("\n") : [];
}

// ---- Invocations ------------------------------------------------------------

function jsonHeader(value) {
  if (!value) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function makeContext(id, headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]) || Date.now() + 3000;
  const cognito = jsonHeader(headers["lambda-runtime-cognito-identity"]);
  return {
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: id,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: cognito && {
      cognitoIdentityId: cognito.cognitoIdentityId,
      cognitoIdentityPoolId: cognito.cognitoIdentityPoolId,
    },
    clientContext: jsonHeader(headers["lambda-runtime-client-context"]),
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis() {
      return Math.max(deadline - Date.now(), 0);
    },
  };
}

// callHandler runs the handler and settles once with its outcome, whichever
// way it reports it: a returned promise, a callback, the legacy
// context.done/succeed/fail, or a plain return value when it takes no callback.
function callHandler(handler, event, ctx) {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome) => {
      if (!settled) {
        settled = true;
        resolve(outcome);
      }
    };
    const finish = (err, value, wait) =>
      settle(err !== undefined && err !== null ? { error: err, wait } : { value, wait });
    const callback = (err, value) => finish(err, value, ctx.callbackWaitsForEmptyEventLoop);
    ctx.done = (err, value) => finish(err, value, false);
    ctx.succeed = (value) => finish(null, value, false);
    ctx.fail = (err) => finish(err ?? "handled", undefined, false);

    let ret;
    try {
      ret = handler(event, ctx, callback);
    } catch (err) {
      settle({ error: err, wait: false });
      return;
    }
    if (ret !== null && (typeof ret === "object" || typeof ret === "function") && typeof ret.then === "function") {
      ret.then(
        (value) => settle({ value, wait: false }),
        (err) => settle({ error: err ?? new Error("handler rejected with " + err), wait: false }),
      );
    } else if (handler.length < 3) {
      settle({ value: ret, wait: false });
    }
  });
}

// The invocation in progress; a fatal error reports to it instead of init.
let current = null;
let initializing = true;
let dying = false;

async function reportError(inv, info, errorType = info.errorType) {
  if (inv.reported) return;
  inv.reported = true;
  console.error(`${info.errorType}: ${info.errorMessage}` + (info.stackTrace.length ? "\n" + info.stackTrace.join("\n") : ""));
  await post(`/invocation/${inv.id}/error`, JSON.stringify(info), errorType);
}

async function invoke(handler, next) {
  const id = next.headers["lambda-runtime-aws-request-id"];
  const inv = { id, reported: false };
  current = inv;
  requestId = id;
  const trace = next.headers["lambda-runtime-trace-id"];
  if (trace) env._X_AMZN_TRACE_ID = trace;
  else delete env._X_AMZN_TRACE_ID;

  let event;
  try {
    event = next.body.length ? JSON.parse(next.body.toString("utf8")) : null;
  } catch (err) {
    await reportError(inv, { errorType: "Runtime.UnmarshalError", errorMessage: `Unable to unmarshal input: ${err.message}`, stackTrace: [] });
    return;
  }

  const ctx = makeContext(id, next.headers);
  const outcome = await callHandler(handler, event, ctx);
  if (outcome.wait) {
    // Like Lambda: a callback's result is sent once the event loop has
    // nothing left to do, so work the handler started still finishes.
    await new Promise((resolve) => process.once("beforeExit", resolve));
  }
  if (inv.reported || dying) return;
  if ("error" in outcome) {
    await reportError(inv, errorInfo(outcome.error));
    return;
  }
  let payload;
  try {
    payload = JSON.stringify(outcome.value);
  } catch (err) {
    await reportError(inv, { errorType: "Runtime.MarshalError", errorMessage: `Unable to stringify response body: ${err.message}`, stackTrace: stackLines(err) });
    return;
  }
  if (payload === undefined) payload = "null";
  inv.reported = true;
  const res = await post(`/invocation/${id}/response`, payload);
  if (res.status === 413) {
    inv.reported = false;
    await reportError(inv, {
      errorType: "Function.ResponseSizeTooLarge",
      errorMessage: `Response payload size (${Buffer.byteLength(payload)} bytes) exceeded maximum allowed payload size (6291556 bytes).`,
      stackTrace: [],
    });
  } else if (res.status >= 300) {
    process.stderr.write(`ember runtime: posting response: HTTP ${res.status}: ${res.body}\n`);
  }
}

// fatal reports an uncaught exception or unhandled rejection to the
// invocation in progress (or to init) and exits, as Lambda's runtime does.
async function fatal(errorType, err, code) {
  if (dying) return;
  dying = true;
  const info = errorInfo(err);
  if (errorType === "Runtime.UnhandledPromiseRejection") {
    info.errorMessage = err instanceof Error ? `${info.errorType}: ${info.errorMessage}` : info.errorMessage;
    info.errorType = errorType;
  }
  try {
    if (initializing) {
      console.error(`${info.errorType}: ${info.errorMessage}`);
      await post("/init/error", JSON.stringify(info), info.errorType);
    } else if (current && !current.reported) {
      await reportError(current, info);
    } else {
      console.error(`${info.errorType}: ${info.errorMessage}`);
    }
  } finally {
    process.exit(code);
  }
}

async function main() {
  patchConsole();
  process.on("SIGTERM", () => process.exit(0));
  process.on("unhandledRejection", (reason) => fatal("Runtime.UnhandledPromiseRejection", reason, 128));
  process.on("uncaughtException", (err) => fatal(null, err, 129));

  const root = env.LAMBDA_TASK_ROOT || "/var/task";
  try {
    process.chdir(root);
  } catch {
    // run from wherever we are
  }
  let handler;
  try {
    handler = await loadHandler(root, env._HANDLER || "");
  } catch (err) {
    const info = err instanceof InitError
      ? { errorType: err.errorType, errorMessage: err.message, stackTrace: err.stackTrace }
      : errorInfo(err);
    dying = true;
    console.error(`${info.errorType}: ${info.errorMessage}`);
    await post("/init/error", JSON.stringify(info), info.errorType);
    process.exit(1);
  }
  initializing = false;

  while (!dying) {
    const next = await request("GET", PREFIX + "/invocation/next");
    if (next.status !== 200) {
      process.stderr.write(`ember runtime: invocation/next: HTTP ${next.status}\n`);
      process.exit(1);
    }
    await invoke(handler, next);
    current = null;
    requestId = undefined;
  }
}

main().catch((err) => {
  process.stderr.write(`ember runtime: ${err?.stack ?? err}\n`);
  process.exit(1);
});
