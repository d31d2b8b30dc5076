package runtimeapi

// MaxConns is exported for the tests.
const MaxConns = maxConns
