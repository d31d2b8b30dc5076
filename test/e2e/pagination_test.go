package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestPagination creates 125 functions and lists them with the SDK paginator and the CLI.
func TestPagination(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	acct := newAccount(t, shared, "e2e-pagination")
	other := newAccount(t, shared, "e2e-pagination-other")
	c := lambdaClient(shared, acct)

	const n = 125
	zip := bootstrapZip(t, "page")
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("page-%03d", i))
	}
	// Create in a shuffled order so sorted output is the server's doing.
	order := slices.Clone(want)
	for i := range order {
		j := (i*37 + 11) % n
		order[i], order[j] = order[j], order[i]
	}
	jobs := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range 8 {
		wg.Go(func() {
			for name := range jobs {
				_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
					FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2023,
					Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: zip},
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("CreateFunction %s: %w", name, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, name := range order {
		jobs <- name
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}

	var got []string
	pages := 0
	p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{MaxItems: aws.Int32(50)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListFunctions page %d: %v", pages+1, err)
		}
		pages++
		if len(page.Functions) > 50 {
			t.Errorf("page %d has %d functions with MaxItems 50", pages, len(page.Functions))
		}
		if len(page.Functions) == 0 && page.NextMarker != nil && *page.NextMarker != "" {
			t.Errorf("page %d is empty but has a NextMarker", pages)
		}
		for _, f := range page.Functions {
			got = append(got, str(f.FunctionName))
			if f.State != types.StateActive && f.State != "" {
				t.Errorf("ListFunctions %s State = %s", str(f.FunctionName), f.State)
			}
		}
		if pages > 20 {
			t.Fatalf("paginator did not stop after %d pages", pages)
		}
	}
	if pages < 3 {
		t.Errorf("125 functions with MaxItems 50 came in %d pages, want at least 3", pages)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListFunctions returned %d names (want %d distinct, sorted)\ngot:  %v\nwant: %v", len(got), len(want), got, want)
	}

	// A small page size works too.
	first, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{MaxItems: aws.Int32(7)})
	if err != nil {
		t.Fatalf("ListFunctions MaxItems 7: %v", err)
	}
	if len(first.Functions) != 7 || first.NextMarker == nil || *first.NextMarker == "" {
		t.Errorf("ListFunctions MaxItems 7: %d functions, NextMarker %v", len(first.Functions), first.NextMarker)
	}
	_, err = c.ListFunctions(ctx, &lambda.ListFunctionsInput{MaxItems: aws.Int32(10001)})
	wantErrOneOf(t, err, "ListFunctions MaxItems 10001", "InvalidParameterValueException", "ValidationException")

	// Another account sees none of them.
	oc := lambdaClient(shared, other)
	ol, err := oc.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil {
		t.Fatalf("ListFunctions as another account: %v", err)
	}
	if len(ol.Functions) != 0 {
		t.Errorf("another account's ListFunctions returned %d functions, want 0 (first %s)", len(ol.Functions), str(ol.Functions[0].FunctionArn))
	}

	// The AWS CLI paginates on its own.
	requireAWSCLI(t)
	var all struct {
		Functions []struct{ FunctionName string }
		NextToken string
	}
	out, errOut, code := awsCLI(t, shared, acct, "lambda", "list-functions")
	if code != 0 {
		t.Fatalf("aws lambda list-functions: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("list-functions output: %v\n%s", err, out)
	}
	var cliNames []string
	for _, f := range all.Functions {
		cliNames = append(cliNames, f.FunctionName)
	}
	if !slices.Equal(cliNames, want) {
		t.Errorf("aws lambda list-functions returned %d names, want the %d sorted: %v", len(cliNames), n, cliNames)
	}
	out, errOut, code = awsCLI(t, shared, acct, "lambda", "list-functions", "--max-items", "10")
	if code != 0 {
		t.Fatalf("aws lambda list-functions --max-items 10: exit %d\n%s\n%s", code, out, errOut)
	}
	all.Functions, all.NextToken = nil, ""
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("list-functions output: %v\n%s", err, out)
	}
	if len(all.Functions) != 10 || all.NextToken == "" {
		t.Errorf("aws lambda list-functions --max-items 10: %d functions, NextToken %q; want 10 and a token", len(all.Functions), all.NextToken)
	}
	if len(all.Functions) == 10 && all.NextToken != "" {
		out, errOut, code = awsCLI(t, shared, acct, "lambda", "list-functions", "--max-items", "10", "--starting-token", all.NextToken)
		if code != 0 {
			t.Fatalf("aws lambda list-functions --starting-token: exit %d\n%s\n%s", code, out, errOut)
		}
		var next struct {
			Functions []struct{ FunctionName string }
		}
		if err := json.Unmarshal([]byte(out), &next); err != nil {
			t.Fatalf("list-functions output: %v\n%s", err, out)
		}
		if len(next.Functions) != 10 || next.Functions[0].FunctionName != want[10] {
			t.Errorf("second CLI page: %d functions starting %v, want 10 starting %s", len(next.Functions), next.Functions, want[10])
		}
	}
	out, errOut, code = awsCLI(t, shared, other, "lambda", "list-functions")
	if code != 0 {
		t.Fatalf("aws lambda list-functions as other: exit %d\n%s\n%s", code, out, errOut)
	}
	var none struct{ Functions []any }
	if err := json.Unmarshal([]byte(out), &none); err != nil || len(none.Functions) != 0 {
		t.Errorf("another account's CLI list-functions: %v %s", err, out)
	}
}
