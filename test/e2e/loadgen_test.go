package e2e

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestEmberBench runs the load generator end to end: it deploys its own
// functions in a fresh account, replays a short Poisson pattern, reports
// in JSON and deletes the functions again.
func TestEmberBench(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "bench")
	out, errOut, code := emberCLI(t, c, []string{"EMBER_ENDPOINT=" + shared.endpoint},
		"bench", "--functions", "5", "--rate", "20", "--requests", "60", "--json")
	if code != 0 {
		t.Fatalf("ember bench: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	type percentiles struct {
		Count int
		P50Ms float64
	}
	var rep struct {
		Functions, Total, OK, FunctionErrors, Throttled, Shed, OtherErrors, ColdStarts int
		Latency                                                                        struct{ All, Warm, Cold percentiles }
		Top                                                                            []struct {
			Function string
			Cold     int
			P50Ms    float64
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("ember bench --json: stdout is not JSON: %v\n%s", err, out)
	}
	defer func() {
		if t.Failed() {
			t.Logf("report: %s\nstderr: %s", out, errOut)
		}
	}()
	if rep.Functions != 5 || rep.Total != 60 {
		t.Errorf("functions %d, total %d; want 5, 60", rep.Functions, rep.Total)
	}
	if sum := rep.OK + rep.FunctionErrors + rep.Throttled + rep.Shed + rep.OtherErrors; sum != rep.Total {
		t.Errorf("ok %d + function errors %d + throttled %d + shed %d + other errors %d = %d, want total %d",
			rep.OK, rep.FunctionErrors, rep.Throttled, rep.Shed, rep.OtherErrors, sum, rep.Total)
	}
	// A function that answered at all started a sandbox for it. (A call
	// may be throttled on a loaded shared server, so not every function
	// need have answered.)
	if rep.ColdStarts < 1 || rep.ColdStarts > rep.Total || rep.ColdStarts != rep.Latency.Cold.Count {
		t.Errorf("cold starts %d (cold latencies %d): want 1 to %d", rep.ColdStarts, rep.Latency.Cold.Count, rep.Total)
	}
	for _, f := range rep.Top {
		if f.P50Ms > 0 && f.Cold < 1 {
			t.Errorf("function %s answered without a cold start", f.Function)
		}
	}
	if rep.Latency.All.P50Ms <= 0 || rep.Latency.All.Count != rep.OK+rep.FunctionErrors {
		t.Errorf("latency %+v: want a positive p50 over the %d answered calls", rep.Latency.All, rep.OK+rep.FunctionErrors)
	}
	if len(rep.Top) != 5 {
		t.Errorf("top table has %d functions, want all 5", len(rep.Top))
	}

	// The functions are gone afterwards.
	list, err := lambdaClient(shared, c).ListFunctions(ctxT(t), &lambda.ListFunctionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range list.Functions {
		t.Errorf("function %s is left after ember bench", *f.FunctionName)
	}
}
