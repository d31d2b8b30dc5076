// Package metering records one usage record per execution — who paid, who
// owns the code, duration, billed milliseconds, memory, GB-seconds, cold or
// warm, outcome — and answers each account's questions about its own usage.
//
// Recording sits on the invocation path, so it costs a slice append under a
// mutex: records are batched in memory and published to the EMBER_USAGE
// JetStream stream by a background flusher, one message per (payer, owner)
// pair per interval. The buffer is bounded; when it is full a record is
// dropped and counted (Stats), never waited for.
//
// Storage layout: stream EMBER_USAGE, file storage, subjects
// usage.<payer>.<owner>; each message is a JSON array of records (short
// field names, see wire) whose payer and owner are the subject's tokens.
// Records expire by age (default 90 days).
//
// Reading is privacy-aware. An account as Payer sees everything about the
// calls it paid for: its functions, its aliases (including cross-account
// ones), the published API routes it called. An account as Owner sees only
// aggregate counts per function of how other accounts used its code — never
// their alias names, API routes, request ids or account ids.
package metering
