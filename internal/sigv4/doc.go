// Package sigv4 verifies AWS Signature Version 4 on requests that reach
// ember's API, and signs the requests of ember's own CLI.
//
// Verification re-signs: it rebuilds the canonical request from what arrived
// on the wire, using exactly the headers the client listed in SignedHeaders,
// and compares signatures in constant time.
//
// The canonical request is built here rather than by
// github.com/aws/smithy-go/aws-http-auth/sigv4, because that signer cannot
// reproduce what real clients sign: it only trims header values (clients
// also collapse inner runs of spaces), it sorts the query by decoded rather
// than encoded names and values, it silently drops query pairs that
// net/url cannot parse, and it rewrites the request while signing (adding
// X-Amz-Date, presign parameters). Its public API exposes no key
// derivation on its own, so nothing of it is used outside tests.
//
// Clients disagree in two places, and a request is accepted if it verifies
// under either convention:
//   - aws-sdk-go-v2 (and the other AWS SDKs) sign the path exactly as sent;
//     botocore (AWS CLI, boto3) first removes dot segments and collapses
//     repeated slashes. Both then escape the already-escaped path once more,
//     so "%3A" in a Lambda ARN is signed as "%253A".
//   - aws-sdk-go-v2 collapses runs of spaces in header values; botocore
//     collapses runs of any whitespace.
package sigv4
