// Package runtimeapi serves the AWS Lambda Runtime API
// (/2018-06-01/runtime/...) to the runtime of one sandbox, and beside it,
// when Options ask for it, the Extensions API (/2020-01-01/extension/...)
// to that sandbox's extensions.
//
// One Server belongs to exactly one sandbox. The host opens a listener
// inside the sandbox's network namespace (127.0.0.1:9001) and calls Serve on
// it; the runtime inside (an aws-lambda-go bootstrap or ember's own python
// and node clients) finds it through AWS_LAMBDA_RUNTIME_API and long-polls
// GET invocation/next. Because a sandbox runs one invocation at a time, the
// server holds at most one invocation in flight: Invoke hands it over an
// unbuffered channel to the parked /next handler and waits for the
// runtime's /response or /error for that request id. Nothing here knows
// about processes: when the sandbox dies the host calls Fail, and every
// waiter returns ErrExited.
//
// Choices where Lambda's behaviour is not written down:
//
//   - Init is complete when the runtime's first GET /next arrives.
//   - A GET /next while the previous invocation has no result completes
//     that invocation as a function error of type Runtime.NoResponse.
//   - /response and /error for an unknown request id, or for one that
//     already has a result, get 400 and leave the invocation as it is.
//   - Error trailers (Lambda-Runtime-Function-Error-Type/-Body) are honoured
//     on every /response, streamed or not: aws-lambda-go declares them on
//     all its posts and fills them when reading the handler's output fails.
//     Streamed responses are buffered and share MaxResponseBytes.
//   - A /response over MaxResponseBytes gets 413 and ends the invocation
//     with Function.ResponseSizeTooLarge; aws-lambda-go exits on the 413.
//
// Extensions follow Lambda's lifecycle. Init is complete when the runtime
// and every registered extension (and every one named in
// Options.Extensions) have asked for their first event; registration
// closes then. Invoke sends INVOKE to the subscribed extensions as the
// runtime gets the event and returns with the runtime's answer; the
// invocation is over for the extensions when each has asked for its next
// event, which Settle waits for (bounded by the invocation's deadline) and
// the next Invoke waits for too. Shutdown sends SHUTDOWN and waits until
// each subscriber asks for another event or its process exits (the host
// reports exits with ExtensionExited), at most until its context's
// deadline. Without extensions none of this costs Invoke anything.
// Choices of ours:
//
//   - Every refusal is a 403 with Lambda's error type
//     (Extension.InvalidEventType for an unknown event, and so on), as
//     Lambda's runtime interface emulator answers; the developer guide
//     also lists 400 without saying when.
//   - Internal and external extensions are not told apart: any extension
//     may subscribe to SHUTDOWN.
//   - An extension's /init/error or /exit/error, or its exit, during init
//     fails init with its error type (Extension.Crash for an exit). After
//     init it is recorded (Extensions) and nothing waits for it any more.
//   - A second /event/next from one extension supersedes a parked one,
//     which gets 403.
package runtimeapi
