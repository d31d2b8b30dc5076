// Package policy is ember's security-policy model: the document a function's
// owner attaches to say how its code may run (network, filesystem, syscalls,
// limits, isolation), its validation, the tighten-only merge of a
// request-time fragment, and the satisfies relation the scheduler uses to
// pick a sandbox.
package policy
