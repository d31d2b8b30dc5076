package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestWaiters checks that the SDK's and the CLI's v2 waiters finish at once.
func TestWaiters(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	acct := newAccount(t, shared, "e2e-waiters")
	c := lambdaClient(shared, acct)
	const name = "waited"
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: pyZip(t, "w")},
	}); err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	start := time.Now()
	if err := lambda.NewFunctionActiveV2Waiter(c).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 20*time.Second); err != nil {
		t.Errorf("FunctionActiveV2 waiter: %v", err)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Timeout: aws.Int32(10)}); err != nil {
		t.Fatalf("UpdateFunctionConfiguration: %v", err)
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(c).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 20*time.Second); err != nil {
		t.Errorf("FunctionUpdatedV2 waiter: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("waiters took %v; State/LastUpdateStatus should be final at once", d)
	}
	// A missing function is an error for the waiter, not an endless wait.
	err := lambda.NewFunctionActiveV2Waiter(c).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("missing")}, 5*time.Second)
	if err == nil {
		t.Errorf("FunctionActiveV2 waiter on a missing function succeeded")
	}

	requireAWSCLI(t)
	for _, w := range []string{"function-active-v2", "function-updated-v2", "function-exists"} {
		out, errOut, code := awsCLI(t, shared, acct, "lambda", "wait", w, "--function-name", name)
		if code != 0 {
			t.Errorf("aws lambda wait %s: exit %d\nstdout: %s\nstderr: %s", w, code, out, errOut)
		}
	}
}

// TestConcurrencyAndAccountSettings covers reserved concurrency and GetAccountSettings.
func TestConcurrencyAndAccountSettings(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	acct := newAccount(t, shared, "e2e-concurrency")
	c := lambdaClient(shared, acct)

	before, err := c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		t.Fatalf("GetAccountSettings: %v", err)
	}
	if before.AccountLimit == nil || before.AccountLimit.ConcurrentExecutions <= 0 {
		t.Errorf("AccountLimit.ConcurrentExecutions = %+v, want > 0", before.AccountLimit)
	}
	if before.AccountUsage == nil || before.AccountUsage.FunctionCount != 0 {
		t.Errorf("AccountUsage of a new account = %+v, want FunctionCount 0", before.AccountUsage)
	}

	for _, n := range []string{"conc-a", "conc-b"} {
		if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(n), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2023,
			Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: bootstrapZip(t, n)},
		}); err != nil {
			t.Fatalf("CreateFunction %s: %v", n, err)
		}
	}
	put, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("conc-a"), ReservedConcurrentExecutions: aws.Int32(5)})
	if err != nil {
		t.Fatalf("PutFunctionConcurrency: %v", err)
	}
	wantStatus(t, put.ResultMetadata, 200, "PutFunctionConcurrency")
	if aws.ToInt32(put.ReservedConcurrentExecutions) != 5 {
		t.Errorf("PutFunctionConcurrency returned %d, want 5", aws.ToInt32(put.ReservedConcurrentExecutions))
	}
	gc, err := c.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("conc-a")})
	if err != nil {
		t.Fatalf("GetFunctionConcurrency: %v", err)
	}
	if aws.ToInt32(gc.ReservedConcurrentExecutions) != 5 {
		t.Errorf("GetFunctionConcurrency = %v, want 5", gc.ReservedConcurrentExecutions)
	}
	gf, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("conc-a")})
	if err != nil {
		t.Fatalf("GetFunction: %v", err)
	}
	if gf.Concurrency == nil || aws.ToInt32(gf.Concurrency.ReservedConcurrentExecutions) != 5 {
		t.Errorf("GetFunction Concurrency = %+v, want ReservedConcurrentExecutions 5", gf.Concurrency)
	}
	gb, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("conc-b")})
	if err != nil {
		t.Fatalf("GetFunction: %v", err)
	}
	if gb.Concurrency != nil && gb.Concurrency.ReservedConcurrentExecutions != nil {
		t.Errorf("GetFunction of a function without reserved concurrency shows %d", *gb.Concurrency.ReservedConcurrentExecutions)
	}
	_, err = c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("conc-b"), ReservedConcurrentExecutions: aws.Int32(-1)})
	if _, st := apiErr(err); err == nil || st != 400 {
		t.Errorf("PutFunctionConcurrency -1: %v, want a 400 error", err)
	}
	_, err = c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("conc-missing"), ReservedConcurrentExecutions: aws.Int32(1)})
	wantErr(t, err, "ResourceNotFoundException", 404, "PutFunctionConcurrency on a missing function")

	settings, err := c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		t.Fatalf("GetAccountSettings: %v", err)
	}
	if settings.AccountUsage == nil || settings.AccountUsage.FunctionCount != 2 {
		t.Errorf("AccountUsage.FunctionCount = %+v, want 2", settings.AccountUsage)
	}
	if settings.AccountUsage != nil && settings.AccountUsage.TotalCodeSize <= 0 {
		t.Errorf("AccountUsage.TotalCodeSize = %d, want > 0", settings.AccountUsage.TotalCodeSize)
	}
	if settings.AccountLimit != nil && settings.AccountLimit.UnreservedConcurrentExecutions != nil &&
		*settings.AccountLimit.UnreservedConcurrentExecutions != settings.AccountLimit.ConcurrentExecutions-5 {
		t.Logf("note: UnreservedConcurrentExecutions = %d with limit %d and 5 reserved", *settings.AccountLimit.UnreservedConcurrentExecutions, settings.AccountLimit.ConcurrentExecutions)
	}

	dc, err := c.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("conc-a")})
	if err != nil {
		t.Fatalf("DeleteFunctionConcurrency: %v", err)
	}
	wantStatus(t, dc.ResultMetadata, http.StatusNoContent, "DeleteFunctionConcurrency")
	gc, err = c.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("conc-a")})
	if err != nil {
		t.Fatalf("GetFunctionConcurrency after delete: %v", err)
	}
	if gc.ReservedConcurrentExecutions != nil {
		t.Errorf("GetFunctionConcurrency after delete = %d, want absent", *gc.ReservedConcurrentExecutions)
	}
	gf, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("conc-a")})
	if err != nil {
		t.Fatalf("GetFunction: %v", err)
	}
	if gf.Concurrency != nil && gf.Concurrency.ReservedConcurrentExecutions != nil {
		t.Errorf("GetFunction Concurrency after delete = %d, want absent", *gf.Concurrency.ReservedConcurrentExecutions)
	}
}

// TestTags covers tags at creation, TagResource, UntagResource and ListTags.
func TestTags(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	acct := newAccount(t, shared, "e2e-tags")
	other := newAccount(t, shared, "e2e-tags-other")
	c := lambdaClient(shared, acct)
	created, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("tagged"), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: pyZip(t, "tags")},
		Tags: map[string]string{"team": "core", "env": "test"},
	})
	if err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	arn := str(created.FunctionArn)
	listTags := func(what string) map[string]string {
		t.Helper()
		out, err := c.ListTags(ctx, &lambda.ListTagsInput{Resource: aws.String(arn)})
		if err != nil {
			t.Fatalf("ListTags (%s): %v", what, err)
		}
		return out.Tags
	}
	if got := listTags("after create"); !mapsEqual(got, map[string]string{"team": "core", "env": "test"}) {
		t.Errorf("ListTags after create = %v", got)
	}
	gf, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("tagged")})
	if err != nil {
		t.Fatalf("GetFunction: %v", err)
	}
	if !mapsEqual(gf.Tags, map[string]string{"team": "core", "env": "test"}) {
		t.Errorf("GetFunction Tags = %v", gf.Tags)
	}
	tr, err := c.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"owner": "alice", "env": "prod"}})
	if err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	wantStatus(t, tr.ResultMetadata, http.StatusNoContent, "TagResource")
	if got := listTags("after TagResource"); !mapsEqual(got, map[string]string{"team": "core", "env": "prod", "owner": "alice"}) {
		t.Errorf("ListTags after TagResource = %v", got)
	}
	ur, err := c.UntagResource(ctx, &lambda.UntagResourceInput{Resource: aws.String(arn), TagKeys: []string{"team", "absent"}})
	if err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	wantStatus(t, ur.ResultMetadata, http.StatusNoContent, "UntagResource")
	if got := listTags("after UntagResource"); !mapsEqual(got, map[string]string{"env": "prod", "owner": "alice"}) {
		t.Errorf("ListTags after UntagResource = %v", got)
	}
	missing := "arn:aws:lambda:local:" + acct.AccountId + ":function:nope"
	_, err = c.ListTags(ctx, &lambda.ListTagsInput{Resource: aws.String(missing)})
	wantErr(t, err, "ResourceNotFoundException", 404, "ListTags of a missing function")
	_, err = c.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(missing), Tags: map[string]string{"a": "b"}})
	wantErr(t, err, "ResourceNotFoundException", 404, "TagResource of a missing function")
	// Another account can neither read nor write these tags.
	oc := lambdaClient(shared, other)
	_, err = oc.ListTags(ctx, &lambda.ListTagsInput{Resource: aws.String(arn)})
	wantErrOneOf(t, err, "ListTags by another account", "ResourceNotFoundException", "AccessDeniedException")
	_, err = oc.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"evil": "1"}})
	wantErrOneOf(t, err, "TagResource by another account", "ResourceNotFoundException", "AccessDeniedException")
	if got := listTags("after foreign TagResource"); got["evil"] != "" {
		t.Errorf("another account added a tag: %v", got)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
