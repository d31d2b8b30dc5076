// Package api is ember's HTTP edge: the Lambda REST API (wire-compatible
// with the AWS CLI and SDKs), ember's own account API, and code downloads.
// It authenticates every request with SigV4, parses and validates input,
// calls the catalog and account services, and maps their errors to Lambda's
// error types in exactly one table (errors.go).
package api
