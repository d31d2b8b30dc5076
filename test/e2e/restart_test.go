package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// persisted is everything the restart test compares before and after.
type persisted struct {
	functions []string
	latest    types.FunctionConfiguration
	v1, v2    types.FunctionConfiguration
	versions  []string
	alias     lambda.GetAliasOutput
	policy    []policyStatement
	qpolicy   []policyStatement
	tags      map[string]string
	reserved  int32
}

// TestRestartPersistence stops a private server with SIGTERM and starts it on the same
// data directory: accounts, keys, functions, versions, aliases, policies, tags and
// concurrency survive, and the admin credentials file is untouched.
func TestRestartPersistence(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	srv := startServer(t)
	credPath := filepath.Join(srv.dir, "admin-credentials.json")
	adminBefore, err := os.ReadFile(credPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(credPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-credentials.json mode %v, want 0600", fi.Mode().Perm())
	}

	a := newAccount(t, srv, "persist-a")
	b := newAccount(t, srv, "persist-b")
	out, errOut, code := emberCLI(t, srv.admin, nil, "key", "create", a.AccountId, "--endpoint", srv.endpoint)
	if code != 0 {
		t.Fatalf("ember key create: %d %s %s", code, out, errOut)
	}
	var extra creds
	if err := json.Unmarshal([]byte(out), &extra); err != nil {
		t.Fatalf("ember key create: %v %s", err, out)
	}
	out, errOut, code = emberCLI(t, srv.admin, nil, "key", "create", a.AccountId, "--endpoint", srv.endpoint)
	if code != 0 {
		t.Fatalf("ember key create: %d %s %s", code, out, errOut)
	}
	var revoked creds
	if err := json.Unmarshal([]byte(out), &revoked); err != nil {
		t.Fatalf("ember key create: %v %s", err, out)
	}
	if _, errOut, code := emberCLI(t, srv.admin, nil, "key", "delete", a.AccountId, revoked.AccessKeyId, "--endpoint", srv.endpoint); code != 0 {
		t.Fatalf("ember key delete: %d %s", code, errOut)
	}

	ac := lambdaClient(srv, a)
	zip1, zip2 := bootstrapZip(t, "persist-1"), bootstrapZip(t, "persist-2")
	created, err := ac.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("keep"), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: zip1},
		MemorySize: aws.Int32(512), Timeout: aws.Int32(42), Description: aws.String("survives"),
		Environment: &types.Environment{Variables: map[string]string{"KEY": "VALUE"}},
		Tags:        map[string]string{"team": "persist"}, Publish: true,
	})
	if err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	fnArn := "arn:aws:lambda:local:" + a.AccountId + ":function:keep"
	if got := str(created.FunctionArn); got != fnArn && got != fnArn+":1" {
		t.Errorf("CreateFunction with Publish: FunctionArn %s", got)
	}
	if _, err := ac.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("keep"), ZipFile: zip2, Publish: true}); err != nil {
		t.Fatalf("UpdateFunctionCode: %v", err)
	}
	if _, err := ac.CreateAlias(ctx, &lambda.CreateAliasInput{
		FunctionName: aws.String("keep"), Name: aws.String("live"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.25}},
	}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	if _, err := ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String("keep"), StatementId: aws.String("b-read"),
		Action: aws.String("lambda:GetFunctionConfiguration"), Principal: aws.String(b.AccountId),
	}); err != nil {
		t.Fatalf("AddPermission: %v", err)
	}
	if _, err := ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String("keep"), Qualifier: aws.String("live"), StatementId: aws.String("b-live"),
		Action: aws.String("lambda:GetFunctionConfiguration"), Principal: aws.String(b.AccountId),
	}); err != nil {
		t.Fatalf("AddPermission Qualifier=live: %v", err)
	}
	if _, err := ac.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(fnArn), Tags: map[string]string{"added": "later"}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if _, err := ac.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("keep"), ReservedConcurrentExecutions: aws.Int32(3)}); err != nil {
		t.Fatalf("PutFunctionConcurrency: %v", err)
	}
	if _, err := ac.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("other"), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: pyZip(t, "other")},
	}); err != nil {
		t.Fatalf("CreateFunction other: %v", err)
	}
	bcl := lambdaClient(srv, b)
	if _, err := bcl.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("b-own"), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: pyZip(t, "b")},
	}); err != nil {
		t.Fatalf("CreateFunction as B: %v", err)
	}

	snapshot := func(c *lambda.Client) persisted {
		t.Helper()
		var p persisted
		lf, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
		if err != nil {
			t.Fatalf("ListFunctions: %v", err)
		}
		for _, f := range lf.Functions {
			p.functions = append(p.functions, str(f.FunctionName))
		}
		for _, q := range []struct {
			qual string
			dst  *types.FunctionConfiguration
		}{{"$LATEST", &p.latest}, {"1", &p.v1}, {"2", &p.v2}} {
			out, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("keep"), Qualifier: aws.String(q.qual)})
			if err != nil {
				t.Fatalf("GetFunctionConfiguration keep:%s: %v", q.qual, err)
			}
			*q.dst = configOf(out)
		}
		p.versions = listVersions(t, c, "keep")
		al, err := c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("keep"), Name: aws.String("live")})
		if err != nil {
			t.Fatalf("GetAlias: %v", err)
		}
		p.alias = *al
		for _, q := range []struct {
			qual string
			dst  *[]policyStatement
		}{{"", &p.policy}, {"live", &p.qpolicy}} {
			in := &lambda.GetPolicyInput{FunctionName: aws.String("keep")}
			if q.qual != "" {
				in.Qualifier = aws.String(q.qual)
			}
			gp, err := c.GetPolicy(ctx, in)
			if err != nil {
				t.Fatalf("GetPolicy %q: %v", q.qual, err)
			}
			var doc policyDoc
			if err := json.Unmarshal([]byte(str(gp.Policy)), &doc); err != nil {
				t.Fatalf("GetPolicy: %v", err)
			}
			*q.dst = doc.Statement
		}
		lt, err := c.ListTags(ctx, &lambda.ListTagsInput{Resource: aws.String(fnArn)})
		if err != nil {
			t.Fatalf("ListTags: %v", err)
		}
		p.tags = lt.Tags
		gc, err := c.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("keep")})
		if err != nil {
			t.Fatalf("GetFunctionConcurrency: %v", err)
		}
		p.reserved = aws.ToInt32(gc.ReservedConcurrentExecutions)
		return p
	}
	before := snapshot(ac)
	if !slices.Equal(before.versions, []string{"$LATEST", "1", "2"}) || before.reserved != 3 || len(before.policy) != 1 || len(before.qpolicy) != 1 {
		t.Fatalf("unexpected state before restart: %+v", before)
	}

	// Stopped, the data directory holds no secret access key in plain text (secrets are
	// encrypted at rest), except the admin credentials file written for the operator.
	srv.stop(t)
	secrets := map[string]string{"account A": a.SecretAccessKey, "account B": b.SecretAccessKey, "extra key": extra.SecretAccessKey}
	plainSeen := false // the function's description: proves the scan can see stored text
	filepath.WalkDir(srv.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == credPath {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if bytes.Contains(data, []byte("survives")) {
			plainSeen = true
		}
		for who, sec := range secrets {
			if bytes.Contains(data, []byte(sec)) {
				t.Errorf("secret access key of %s stored in plain text in %s", who, path)
			}
		}
		if bytes.Contains(data, []byte(srv.admin.SecretAccessKey)) {
			t.Errorf("admin secret access key stored in plain text in %s", path)
		}
		return nil
	})
	if !plainSeen {
		t.Logf("note: no stored text found in %s (compressed store?); the plain-text secret scan proves little", srv.dir)
	}
	if !strings.Contains(srv.logTail(1<<20), "admin-credentials.json") {
		t.Errorf("the server log does not say where the admin credentials are")
	}
	if err := srv.start(); err != nil {
		t.Fatalf("restart: %v", err)
	}

	adminAfter, err := os.ReadFile(credPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(adminBefore, adminAfter) {
		t.Errorf("admin-credentials.json changed across restart:\nbefore %s\nafter  %s", adminBefore, adminAfter)
	}
	out, errOut, code = emberCLI(t, srv.admin, nil, "account", "list", "--endpoint", srv.endpoint)
	if code != 0 {
		t.Fatalf("ember account list after restart with the old admin key: exit %d %s %s", code, out, errOut)
	}
	var accounts []struct{ Name, AccountId string }
	if err := json.Unmarshal([]byte(out), &accounts); err != nil {
		t.Fatalf("ember account list: %v %s", err, out)
	}
	names := map[string]string{}
	for _, x := range accounts {
		names[x.AccountId] = x.Name
	}
	if names[a.AccountId] != "persist-a" || names[b.AccountId] != "persist-b" {
		t.Errorf("accounts after restart: %s", out)
	}

	ac = lambdaClient(srv, a)
	after := snapshot(ac)
	comparePersisted(t, before, after)

	// Keys: the extra key works, the revoked one still does not.
	if _, err := lambdaClient(srv, extra).GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("keep")}); err != nil {
		t.Errorf("extra key after restart: %v", err)
	}
	_, err = lambdaClient(srv, revoked).ListFunctions(ctx, &lambda.ListFunctionsInput{})
	wantErr(t, err, "UnrecognizedClientException", 403, "revoked key after restart")

	// The grant still works and B still has its own function.
	bcl = lambdaClient(srv, b)
	if _, err := bcl.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fnArn)}); err != nil {
		t.Errorf("B GetFunctionConfiguration of A's function after restart: %v", err)
	}
	if _, err := bcl.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("b-own")}); err != nil {
		t.Errorf("B's own function after restart: %v", err)
	}

	// The code is still there, byte for byte, for every version.
	for qual, want := range map[string][]byte{"$LATEST": zip2, "1": zip1, "2": zip2} {
		gf, err := ac.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("keep"), Qualifier: aws.String(qual)})
		if err != nil {
			t.Errorf("GetFunction keep:%s after restart: %v", qual, err)
			continue
		}
		if gf.Code == nil || gf.Code.Location == nil {
			t.Errorf("GetFunction keep:%s after restart: no Code.Location", qual)
			continue
		}
		checkCodeLocation(t, *gf.Code.Location, want)
	}

	// Counters survive: the next version is 3, a stale RevisionId is still stale.
	if _, err := ac.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("keep"), ZipFile: bootstrapZip(t, "persist-3")}); err != nil {
		t.Fatalf("UpdateFunctionCode after restart: %v", err)
	}
	v3, err := ac.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("keep")})
	if err != nil {
		t.Fatalf("PublishVersion after restart: %v", err)
	}
	if str(v3.Version) != "3" {
		t.Errorf("PublishVersion after restart gave %s, want 3", str(v3.Version))
	}
	_, err = ac.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("keep"), Description: aws.String("x"), RevisionId: before.latest.RevisionId,
	})
	wantErr(t, err, "PreconditionFailedException", 412, "UpdateFunctionConfiguration with a pre-restart RevisionId")

	// A second restart, right away, is clean too.
	srv.restart(t)
	lf, err := lambdaClient(srv, a).ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil {
		t.Fatalf("ListFunctions after second restart: %v", err)
	}
	if len(lf.Functions) != 2 {
		t.Errorf("ListFunctions after second restart: %d functions, want 2", len(lf.Functions))
	}
	srv.stop(t)
}

func configOf(out *lambda.GetFunctionConfigurationOutput) types.FunctionConfiguration {
	return types.FunctionConfiguration{
		FunctionName: out.FunctionName, FunctionArn: out.FunctionArn, Version: out.Version,
		CodeSha256: out.CodeSha256, CodeSize: out.CodeSize, RevisionId: out.RevisionId,
		MemorySize: out.MemorySize, Timeout: out.Timeout, Description: out.Description,
		Environment: out.Environment, LastModified: out.LastModified, Runtime: out.Runtime,
		Handler: out.Handler, Role: out.Role, State: out.State, LastUpdateStatus: out.LastUpdateStatus,
	}
}

func comparePersisted(t *testing.T, before, after persisted) {
	t.Helper()
	if !slices.Equal(before.functions, after.functions) {
		t.Errorf("functions after restart %v, before %v", after.functions, before.functions)
	}
	for _, c := range []struct {
		what string
		b, a types.FunctionConfiguration
	}{{"$LATEST", before.latest, after.latest}, {"1", before.v1, after.v1}, {"2", before.v2, after.v2}} {
		if !reflect.DeepEqual(c.b, c.a) {
			bj, _ := json.Marshal(c.b)
			aj, _ := json.Marshal(c.a)
			t.Errorf("configuration of %s changed across restart:\nbefore %s\nafter  %s", c.what, bj, aj)
		}
	}
	if !slices.Equal(before.versions, after.versions) {
		t.Errorf("versions after restart %v, before %v", after.versions, before.versions)
	}
	if str(before.alias.FunctionVersion) != str(after.alias.FunctionVersion) || str(before.alias.RevisionId) != str(after.alias.RevisionId) ||
		str(before.alias.AliasArn) != str(after.alias.AliasArn) || !reflect.DeepEqual(before.alias.RoutingConfig, after.alias.RoutingConfig) {
		t.Errorf("alias changed across restart: before %+v after %+v", before.alias, after.alias)
	}
	if after.alias.RoutingConfig == nil || after.alias.RoutingConfig.AdditionalVersionWeights["2"] != 0.25 {
		t.Errorf("alias routing after restart: %+v", after.alias.RoutingConfig)
	}
	if !reflect.DeepEqual(before.policy, after.policy) || !reflect.DeepEqual(before.qpolicy, after.qpolicy) {
		t.Errorf("policy changed across restart: before %+v / %+v after %+v / %+v", before.policy, before.qpolicy, after.policy, after.qpolicy)
	}
	if !mapsEqual(before.tags, after.tags) || after.tags["team"] != "persist" || after.tags["added"] != "later" {
		t.Errorf("tags after restart %v, before %v", after.tags, before.tags)
	}
	if after.reserved != 3 {
		t.Errorf("reserved concurrency after restart %d, want 3", after.reserved)
	}
}
