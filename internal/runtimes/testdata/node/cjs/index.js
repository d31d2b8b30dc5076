let calls = 0;

exports.handler = async (event) => ({ hello: event.name ?? "world", style: "async" });

exports.cb = (event, context, callback) => {
  setTimeout(() => callback(null, { style: "callback", got: event }), 5);
};

exports.cbLater = (event, context, callback) => {
  callback(null, "early");
  // Lambda sends the response only once the event loop is empty.
  setTimeout(() => console.log("timer after callback"), 30);
};

exports.cbNoWait = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = false;
  callback(null, "no wait");
  setTimeout(() => {}, 60000);
};

exports.cbError = (event, context, callback) => callback("plain string failure");

exports.legacy = (event, context) => {
  context.succeed({ style: "legacy" });
};

exports.plain = (event) => ({ style: "plain" });

exports.none = async () => undefined;

class ValidationError extends Error {
  constructor(message) {
    super(message);
    this.name = "ValidationError";
  }
}

exports.throws = () => {
  throw new ValidationError("field x is required");
};

exports.rejects = async () => {
  throw new TypeError("async failure");
};

exports.unhandled = async () => {
  Promise.reject(new Error("nobody catches me"));
  await new Promise((r) => setTimeout(r, 200));
  return "too late";
};

exports.count = async () => ({ calls: ++calls, pid: process.pid });

exports.ctx = async (event, context) => ({
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  invokedFunctionArn: context.invokedFunctionArn,
  memoryLimitInMB: context.memoryLimitInMB,
  awsRequestId: context.awsRequestId,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  remaining: context.getRemainingTimeInMillis(),
  identity: context.identity,
  clientContext: context.clientContext,
  waits: context.callbackWaitsForEmptyEventLoop,
  legacy: [typeof context.done, typeof context.succeed, typeof context.fail],
  traceId: process.env._X_AMZN_TRACE_ID,
});

exports.log = async () => {
  console.log("hello %s", "log");
  console.info("an info");
  console.warn("a warning");
  console.error("an error", { code: 7 });
  return "logged";
};

exports.bigint = async () => ({ n: 10n });

exports.big = async () => "x".repeat(7 * 1024 * 1024);

exports.echo = async (event) => event;

exports.nested = { deeper: { fn: async () => "nested" } };

exports.uncaught = (event, context, callback) => {
  setTimeout(() => {
    throw new RangeError("timer blew up");
  }, 5);
};
