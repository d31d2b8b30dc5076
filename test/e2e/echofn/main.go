// Command echofn is the trivial function of the benchmarks: an unmodified
// aws-lambda-go handler that returns its event, built as `bootstrap`.
package main

import (
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func echo(ev json.RawMessage) (json.RawMessage, error) { return ev, nil }

func main() { lambda.Start(echo) }
