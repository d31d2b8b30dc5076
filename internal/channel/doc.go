// Package channel serves the platform channel of one sandbox: the only way
// a function reaches auxiliary services (its secrets, its key-value store,
// other functions and the portions of its own function), even when it has
// no network at all.
//
// The host opens a listener inside the sandbox's network namespace
// (127.0.0.1:9002, announced to the function as EMBER_SERVICES_API) and
// calls Serve on it. Each listener lives in exactly one sandbox's netns, so
// the host knows which function is calling without any credential inside
// the sandbox: a Server is built for one Grant (account, function, version,
// portion, and the services the security policy names) and answers for
// that grant only. Anything the grant does not name is refused.
//
// # HTTP surface
//
// Every path starts with /2026-01-01/. Errors are JSON,
// {"errorType":"...","errorMessage":"..."}.
//
//	GET    /2026-01-01/whoami
//	    200 {"account","function","version","portion",
//	         "services":{"secrets":[...],"kv":bool,"functions":[...],"portions":[...]}}
//	    What this sandbox is and may use (names only, never values).
//
//	GET    /2026-01-01/secrets/{name}
//	    200 the raw value (application/octet-stream, Cache-Control: no-store).
//	    403 ServiceNotGranted when the grant does not name the secret, whether
//	    or not it exists; 404 SecretNotFound when granted but not set.
//
//	GET    /2026-01-01/kv/{key}
//	    200 the raw value, header Ember-Revision; 404 KeyNotFound.
//	PUT    /2026-01-01/kv/{key}
//	    Body: the value. If-Match: <revision> writes only over that
//	    revision; If-None-Match: * only creates. 200 {"revision":N} and
//	    Ember-Revision; 409 RevisionConflict when a condition fails;
//	    400 KeyQuotaExceeded when the function holds the most keys allowed;
//	    413 when the value is too large.
//	DELETE /2026-01-01/kv/{key}
//	    Optional If-Match: <revision>. 204, also for a missing key without
//	    If-Match; 409 RevisionConflict.
//	GET    /2026-01-01/kv?prefix=P&limit=N&after=K
//	    200 {"keys":[...],"next":"K"}: keys in byte order; "next" is present
//	    when more follow and is the after= of the next page.
//	    The key is the rest of the path after /kv/, percent-decoded, so a
//	    key may hold '/'; '%', '?' and '#' must be escaped. Every kv call is
//	    403 ServiceNotGranted unless the grant opens the store.
//
//	POST   /2026-01-01/functions/{name-or-arn}/invocations
//	POST   /2026-01-01/portions/{portion}/invocations
//	    Body: the payload. The host runs the call (Backends.Invoke) and
//	    answers 200 with the callee's payload; when the callee failed, the
//	    header Ember-Function-Error holds its error type and the body its
//	    error document, as Lambda's Invoke does with X-Amz-Function-Error.
//	    Ember-Deadline-Ms (epoch milliseconds) bounds the call; without it
//	    the call gets Options.CallTimeout, and never more than the caller's
//	    own invocation has left when the host says (Options.CallerDeadline).
//	    403 ServiceNotGranted when the target is not granted; 404, 429 and
//	    403 for a callee that is missing, throttled or refuses the call;
//	    502 CallTimedOut when the deadline passes first, 502 CallFailed when
//	    the host could not run the call or the response is too large.
//	    A function is granted by name (same account), ACCOUNT:function:NAME
//	    or ARN; an entry without a qualifier grants every version and alias
//	    of that function, one with a qualifier only that one.
//
// Other answers: 400 InvalidRequestContentException for a malformed
// request, 404 NotFound for an unknown path, 405 MethodNotAllowed,
// 413 RequestEntityTooLarge for a body over the limits (Options), 429
// TooManyRequestsException when the sandbox already has MaxConcurrent calls
// in flight, 500 ServiceException when a backend fails.
package channel
