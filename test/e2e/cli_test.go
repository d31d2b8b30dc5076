package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAWSCLILifecycle drives the control plane with the AWS CLI and checks its JSON output.
func TestAWSCLILifecycle(t *testing.T) {
	t.Parallel()
	requireAWSCLI(t)
	a := newAccount(t, shared, "e2e-cli-owner")
	b := newAccount(t, shared, "e2e-cli-grantee")
	zip1 := pyZip(t, "cli-1")
	zip2 := pyZip(t, "cli-2")
	p1 := writeTemp(t, "one.zip", zip1)
	p2 := writeTemp(t, "two.zip", zip2)
	const name = "cli-fn"
	fnArn := "arn:aws:lambda:local:" + a.AccountId + ":function:" + name

	cf := awsJSON(t, shared, a, "lambda", "create-function", "--function-name", name,
		"--runtime", "python3.12", "--handler", "handler.main", "--role", testRole,
		"--zip-file", "fileb://"+p1, "--description", "from the cli", "--tags", "team=cli,env=test")
	wantField(t, cf, "create-function", "FunctionName", name)
	wantField(t, cf, "create-function", "FunctionArn", fnArn)
	wantField(t, cf, "create-function", "State", "Active")
	wantField(t, cf, "create-function", "LastUpdateStatus", "Successful")
	wantField(t, cf, "create-function", "CodeSha256", sha256b64(zip1))
	wantField(t, cf, "create-function", "CodeSize", float64(len(zip1)))
	wantField(t, cf, "create-function", "Version", "$LATEST")
	wantField(t, cf, "create-function", "Runtime", "python3.12")
	wantField(t, cf, "create-function", "MemorySize", float64(128))
	wantField(t, cf, "create-function", "Description", "from the cli")

	gf := awsJSON(t, shared, a, "lambda", "get-function", "--function-name", name)
	cfg, _ := gf["Configuration"].(map[string]any)
	wantField(t, cfg, "get-function Configuration", "FunctionName", name)
	wantField(t, cfg, "get-function Configuration", "RevisionId", cf["RevisionId"])
	code, _ := gf["Code"].(map[string]any)
	if loc, _ := code["Location"].(string); loc == "" {
		t.Errorf("get-function: no Code.Location in %v", gf)
	} else {
		checkCodeLocation(t, loc, zip1)
	}
	tags, _ := gf["Tags"].(map[string]any)
	if tags["team"] != "cli" || tags["env"] != "test" {
		t.Errorf("get-function Tags = %v", gf["Tags"])
	}

	uc := awsJSON(t, shared, a, "lambda", "update-function-configuration", "--function-name", name,
		"--memory-size", "256", "--timeout", "30", "--environment", "Variables={GREETING=hi,NUM=1}")
	wantField(t, uc, "update-function-configuration", "MemorySize", float64(256))
	wantField(t, uc, "update-function-configuration", "Timeout", float64(30))
	if env, _ := uc["Environment"].(map[string]any); env == nil {
		t.Errorf("update-function-configuration: no Environment in %v", uc)
	} else if vars, _ := env["Variables"].(map[string]any); vars["GREETING"] != "hi" || vars["NUM"] != "1" {
		t.Errorf("update-function-configuration Environment = %v", env)
	}
	if uc["RevisionId"] == cf["RevisionId"] {
		t.Errorf("update-function-configuration did not change RevisionId")
	}
	if _, errOut, code := awsCLI(t, shared, a, "lambda", "wait", "function-updated-v2", "--function-name", name); code != 0 {
		t.Errorf("aws lambda wait function-updated-v2: exit %d: %s", code, errOut)
	}

	ucode := awsJSON(t, shared, a, "lambda", "update-function-code", "--function-name", name, "--zip-file", "fileb://"+p2)
	wantField(t, ucode, "update-function-code", "CodeSha256", sha256b64(zip2))

	pv := awsJSON(t, shared, a, "lambda", "publish-version", "--function-name", name, "--description", "v1")
	wantField(t, pv, "publish-version", "Version", "1")
	wantField(t, pv, "publish-version", "FunctionArn", fnArn+":1")
	wantField(t, pv, "publish-version", "CodeSha256", sha256b64(zip2))
	pv = awsJSON(t, shared, a, "lambda", "publish-version", "--function-name", name)
	wantField(t, pv, "publish-version (unchanged)", "Version", "1")

	lv := awsJSON(t, shared, a, "lambda", "list-versions-by-function", "--function-name", name)
	if vs, _ := lv["Versions"].([]any); len(vs) != 2 {
		t.Errorf("list-versions-by-function: %d versions, want 2: %v", len(vs), lv)
	}

	ca := awsJSON(t, shared, a, "lambda", "create-alias", "--function-name", name, "--name", "live",
		"--function-version", "1", "--description", "cli alias")
	wantField(t, ca, "create-alias", "AliasArn", fnArn+":live")
	wantField(t, ca, "create-alias", "FunctionVersion", "1")
	wantField(t, ca, "create-alias", "Name", "live")
	la := awsJSON(t, shared, a, "lambda", "list-aliases", "--function-name", name)
	if as, _ := la["Aliases"].([]any); len(as) != 1 {
		t.Errorf("list-aliases: %v", la)
	}
	gc := awsJSON(t, shared, a, "lambda", "get-function-configuration", "--function-name", fnArn+":live")
	wantField(t, gc, "get-function-configuration ARN:live", "Version", "1")

	ap := awsJSON(t, shared, a, "lambda", "add-permission", "--function-name", name, "--statement-id", "let-b-read",
		"--action", "lambda:GetFunctionConfiguration", "--principal", b.AccountId)
	stmt, _ := ap["Statement"].(string)
	var st policyStatement
	if err := json.Unmarshal([]byte(stmt), &st); err != nil {
		t.Errorf("add-permission Statement is not a JSON string: %v: %v", err, ap)
	} else if st.Sid != "let-b-read" || principalAWS(st.Principal) != "arn:aws:iam::"+b.AccountId+":root" {
		t.Errorf("add-permission Statement = %s", stmt)
	}
	gp := awsJSON(t, shared, a, "lambda", "get-policy", "--function-name", name)
	pol, _ := gp["Policy"].(string)
	findStatement(t, &pol, "let-b-read")
	if gp["RevisionId"] == nil {
		t.Errorf("get-policy: no RevisionId: %v", gp)
	}
	bc := awsJSON(t, shared, b, "lambda", "get-function-configuration", "--function-name", fnArn)
	wantField(t, bc, "B get-function-configuration (granted)", "FunctionArn", fnArn)

	lt := awsJSON(t, shared, a, "lambda", "list-tags", "--resource", fnArn)
	if tags, _ := lt["Tags"].(map[string]any); tags["team"] != "cli" {
		t.Errorf("list-tags = %v", lt)
	}

	lf := awsJSON(t, shared, a, "lambda", "list-functions")
	found := false
	if fs, _ := lf["Functions"].([]any); len(fs) == 1 {
		f, _ := fs[0].(map[string]any)
		found = f["FunctionName"] == name
	}
	if !found {
		t.Errorf("list-functions: want exactly %s: %v", name, lf)
	}

	as := awsJSON(t, shared, a, "lambda", "get-account-settings")
	if lim, _ := as["AccountLimit"].(map[string]any); lim == nil || lim["ConcurrentExecutions"] == nil {
		t.Errorf("get-account-settings: %v", as)
	}

	// Errors come out as the CLI's service-error exit code with the error type.
	out, errOut, code2 := awsCLI(t, shared, a, "lambda", "get-function", "--function-name", "missing")
	if code2 != 254 || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Errorf("get-function of a missing function: exit %d, stderr %q, stdout %q; want 254 and ResourceNotFoundException", code2, errOut, out)
	}
	out, errOut, code2 = awsCLI(t, shared, a, "lambda", "create-function", "--function-name", name,
		"--runtime", "python3.12", "--handler", "handler.main", "--role", testRole, "--zip-file", "fileb://"+p1)
	if code2 != 254 || !strings.Contains(errOut, "ResourceConflictException") {
		t.Errorf("create-function of an existing name: exit %d, stderr %q; want 254 and ResourceConflictException", code2, errOut)
	}

	out, errOut, code2 = awsCLI(t, shared, a, "lambda", "delete-function", "--function-name", name)
	if code2 != 0 {
		t.Errorf("delete-function: exit %d\n%s\n%s", code2, out, errOut)
	}
	_, errOut, code2 = awsCLI(t, shared, a, "lambda", "get-function", "--function-name", name)
	if code2 != 254 || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Errorf("get-function after delete-function: exit %d, stderr %q", code2, errOut)
	}
	_, errOut, code2 = awsCLI(t, shared, b, "lambda", "get-function-configuration", "--function-name", fnArn)
	if code2 != 254 || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Errorf("B get-function-configuration after delete-function: exit %d, stderr %q", code2, errOut)
	}
}

// wantField compares one top-level field of CLI JSON output.
func wantField(t *testing.T, m map[string]any, what, key string, want any) {
	t.Helper()
	if m == nil {
		t.Errorf("%s: no output", what)
		return
	}
	if got := m[key]; got != want {
		t.Errorf("%s: %s = %#v, want %#v", what, key, got, want)
	}
}
