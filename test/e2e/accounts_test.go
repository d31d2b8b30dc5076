package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestAccountsAndKeys drives `ember account` and `ember key` and checks that keys work,
// and stop working once deleted.
func TestAccountsAndKeys(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)

	fi, err := os.Stat(filepath.Join(shared.dir, "admin-credentials.json"))
	if err != nil {
		t.Fatalf("admin-credentials.json: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-credentials.json mode %v, want 0600", fi.Mode().Perm())
	}

	acct := newAccount(t, shared, "e2e-keys")
	if acct.AccountId == shared.admin.AccountId {
		t.Errorf("new account has the admin's account id")
	}
	// The endpoint may come from EMBER_ENDPOINT.
	out, errOut, code := emberCLI(t, shared.admin, []string{"EMBER_ENDPOINT=" + shared.endpoint}, "account", "create", "e2e-keys-env")
	if code != 0 {
		t.Fatalf("ember account create with EMBER_ENDPOINT: exit %d\n%s\n%s", code, out, errOut)
	}
	var viaEnv creds
	if err := json.Unmarshal([]byte(out), &viaEnv); err != nil || !accountIDRe.MatchString(viaEnv.AccountId) || viaEnv.AccountId == acct.AccountId {
		t.Errorf("ember account create with EMBER_ENDPOINT: %v %s", err, out)
	}

	out, errOut, code = emberCLI(t, shared.admin, nil, "account", "list", "--endpoint", shared.endpoint)
	if code != 0 {
		t.Fatalf("ember account list: exit %d\n%s\n%s", code, out, errOut)
	}
	var accounts []struct{ Name, AccountId string }
	if err := json.Unmarshal([]byte(out), &accounts); err != nil {
		t.Fatalf("ember account list: not a JSON array: %v\n%s", err, out)
	}
	seen := map[string]string{}
	for _, a := range accounts {
		seen[a.AccountId] = a.Name
	}
	if seen[acct.AccountId] != "e2e-keys" || seen[viaEnv.AccountId] != "e2e-keys-env" {
		t.Errorf("ember account list lacks the new accounts: %s", out)
	}
	if strings.Contains(out, acct.SecretAccessKey) {
		t.Errorf("ember account list prints secret access keys")
	}

	// A non-admin cannot manage accounts.
	_, _, code = emberCLI(t, acct, nil, "account", "create", "e2e-keys-intruder", "--endpoint", shared.endpoint)
	if code == 0 {
		t.Errorf("a non-admin account could run ember account create")
	}
	_, _, code = emberCLI(t, acct, nil, "key", "create", viaEnv.AccountId, "--endpoint", shared.endpoint)
	if code == 0 {
		t.Errorf("a non-admin account could create a key for another account")
	}

	c := lambdaClient(shared, acct)
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("keyed"), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: pyZip(t, "keys")},
	}); err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}

	// A second key for the same account sees the same functions.
	out, errOut, code = emberCLI(t, shared.admin, nil, "key", "create", acct.AccountId, "--endpoint", shared.endpoint)
	if code != 0 {
		t.Fatalf("ember key create: exit %d\n%s\n%s", code, out, errOut)
	}
	var second creds
	if err := json.Unmarshal([]byte(out), &second); err != nil || second.AccountId != acct.AccountId || second.AccessKeyId == "" || second.SecretAccessKey == "" {
		t.Fatalf("ember key create: %v %s", err, out)
	}
	if second.AccessKeyId == acct.AccessKeyId {
		t.Errorf("ember key create returned the existing key id")
	}
	c2 := lambdaClient(shared, second)
	if _, err := c2.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("keyed")}); err != nil {
		t.Errorf("GetFunctionConfiguration with the second key: %v", err)
	}

	out, errOut, code = emberCLI(t, shared.admin, nil, "key", "list", acct.AccountId, "--endpoint", shared.endpoint)
	if code != 0 {
		t.Fatalf("ember key list: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, acct.AccessKeyId) || !strings.Contains(out, second.AccessKeyId) {
		t.Errorf("ember key list lacks a key: %s", out)
	}
	if strings.Contains(out, acct.SecretAccessKey) || strings.Contains(out, second.SecretAccessKey) {
		t.Errorf("ember key list prints secret access keys: %s", out)
	}

	// Deleting the first key: it stops working at once, the second still works.
	out, errOut, code = emberCLI(t, shared.admin, nil, "key", "delete", acct.AccountId, acct.AccessKeyId, "--endpoint", shared.endpoint)
	if code != 0 {
		t.Fatalf("ember key delete: exit %d\n%s\n%s", code, out, errOut)
	}
	_, err = c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	wantErr(t, err, "UnrecognizedClientException", 403, "ListFunctions with a deleted key")
	if _, err := c2.ListFunctions(ctx, &lambda.ListFunctionsInput{}); err != nil {
		t.Errorf("ListFunctions with the remaining key: %v", err)
	}
	out, _, _ = emberCLI(t, shared.admin, nil, "key", "list", acct.AccountId, "--endpoint", shared.endpoint)
	if strings.Contains(out, acct.AccessKeyId) {
		t.Errorf("ember key list still shows the deleted key: %s", out)
	}

	// Deleting an account disables its keys.
	vc := lambdaClient(shared, viaEnv)
	if _, err := vc.ListFunctions(ctx, &lambda.ListFunctionsInput{}); err != nil {
		t.Fatalf("ListFunctions as e2e-keys-env: %v", err)
	}
	out, errOut, code = emberCLI(t, shared.admin, nil, "account", "delete", viaEnv.AccountId, "--endpoint", shared.endpoint)
	if code != 0 {
		t.Fatalf("ember account delete: exit %d\n%s\n%s", code, out, errOut)
	}
	_, err = vc.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	wantErr(t, err, "UnrecognizedClientException", 403, "ListFunctions as a deleted account")
	out, _, _ = emberCLI(t, shared.admin, nil, "account", "list", "--endpoint", shared.endpoint)
	if strings.Contains(out, viaEnv.AccountId) {
		t.Errorf("ember account list still shows the deleted account: %s", out)
	}

	// Wrong admin secret: the CLI fails.
	bad := shared.admin
	bad.SecretAccessKey = "wrong"
	_, _, code = emberCLI(t, bad, nil, "account", "list", "--endpoint", shared.endpoint)
	if code == 0 {
		t.Errorf("ember account list with a wrong admin secret succeeded")
	}
}
