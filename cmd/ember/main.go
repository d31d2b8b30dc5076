// Command ember is a self-hosted, multi-tenant serverless platform that
// speaks AWS Lambda's APIs. All behaviour lives in internal/cli.
package main

import (
	"context"
	"os"

	"github.com/ember-run/ember/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
