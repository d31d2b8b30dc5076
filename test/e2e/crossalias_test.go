package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// aliasTarget is account A's function behind the cross-account aliases: it
// answers with the event it got, the variables that matter, its memory,
// the ARN it was invoked as and its sandbox (log stream).
const aliasTarget = `import json, os

def handler(event, context):
    return {
        "event": event,
        "tenantToken": os.environ.get("TENANT_TOKEN"),
        "ownerSetting": os.environ.get("OWNER_SETTING"),
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "sandbox": context.log_stream_name,
    }
`

type aliasAnswer struct {
	Event        map[string]any `json:"event"`
	TenantToken  *string        `json:"tenantToken"`
	OwnerSetting *string        `json:"ownerSetting"`
	Memory       any            `json:"memory"`
	ARN          string         `json:"arn"`
	Sandbox      string         `json:"sandbox"`
}

func aliasCall(t *testing.T, cl *lambda.Client, name, payload string) aliasAnswer {
	t.Helper()
	out := invokeFn(t, cl, name, "", payload)
	if out.fnErr != "" {
		t.Fatalf("invoke %s: function error %s", name, out.raw)
	}
	var a aliasAnswer
	if err := json.Unmarshal([]byte(out.raw), &a); err != nil {
		t.Fatalf("invoke %s: %v: %s", name, err, out.raw)
	}
	return a
}

// TestCrossAccountAliases: A owns a function; B and C alias it in their
// own namespaces with their own credentials and parameters and call it at
// the same time. Each execution sees only its alias's credentials, in
// sandboxes of its own; B and C pay, A does not; B never reads A's code
// and A never reads B's customizations; revoking B's grant stops B only.
func TestCrossAccountAliases(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	a := newAccount(t, shared, "xalias-provider")
	b := newAccount(t, shared, "xalias-consumer-b")
	c := newAccount(t, shared, "xalias-consumer-c")
	acl, bcl, ccl := lambdaClient(shared, a), lambdaClient(shared, b), lambdaClient(shared, c)
	zip := makeZip(t, zipEntry{name: "app.py", body: aliasTarget, mode: 0o644})
	createFn(t, acl, "pricing", "python3.12", "app.handler", zip, map[string]string{"OWNER_SETTING": "owner-only"}, 10, 256)
	target := "arn:aws:lambda:" + testRegion + ":" + a.AccountId + ":function:pricing"

	// Without a grant there is nothing to alias.
	if _, errOut, code := cliShared(t, b, "alias-of", "calc", target, "--env", "TENANT_TOKEN=b-token"); code == 0 || !strings.Contains(errOut, "AccessDenied") && !strings.Contains(errOut, "not found") {
		t.Fatalf("alias-of without a grant: exit %d %s", code, errOut)
	}
	for _, g := range []struct{ sid, who, action string }{
		{"b-invoke", b.AccountId, "lambda:InvokeFunction"},
		{"c-alias", c.AccountId, "ember:CreateCrossAccountAlias"},
	} {
		if _, err := acl.AddPermission(ctxT(t), &lambda.AddPermissionInput{
			FunctionName: aws.String("pricing"), StatementId: aws.String(g.sid),
			Action: aws.String(g.action), Principal: aws.String(g.who),
		}); err != nil {
			t.Fatalf("grant %s: %v", g.sid, err)
		}
	}

	// B through the CLI, C through the API.
	out, errOut, code := cliShared(t, b, "alias-of", "calc", target,
		"--param", "region=eu", "--param", "limit=5", "--env", "TENANT_TOKEN=b-token", "--memory", "128")
	if code != 0 {
		t.Fatalf("alias-of (B): exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "b-token") || !strings.Contains(out, `"TENANT_TOKEN"`) {
		t.Errorf("alias-of output must name the variable, never show its value:\n%s", out)
	}
	body := `{"Target":"` + target + `","Parameters":{"region":"us"},"Environment":{"TENANT_TOKEN":"c-token"}}`
	if r := signedRequest(t, shared, c, "PUT", "/ember/cross-account-aliases/calc", []byte(body), testRegion, time.Time{}); r.status != 200 {
		t.Fatalf("PUT cross-account alias (C): %v", r)
	}
	// A's own namespace has no such alias, and A cannot read B's.
	if r := signedRequest(t, shared, a, "GET", "/ember/cross-account-aliases/calc", nil, testRegion, time.Time{}); r.status != 404 {
		t.Errorf("A reading a cross-account alias by name: %v", r)
	}

	// A's own call, then B and C at the same time.
	own := aliasCall(t, acl, "pricing", `{"q":1}`)
	if own.TenantToken != nil || fmt.Sprint(own.Memory) != "256" {
		t.Errorf("A's own call: %+v", own)
	}
	const calls = 6
	var wg sync.WaitGroup
	answers := map[string][]aliasAnswer{}
	var mu sync.Mutex
	for _, who := range []struct {
		name string
		cl   *lambda.Client
	}{{"b", bcl}, {"c", ccl}} {
		for i := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ans := aliasCall(t, who.cl, "calc", fmt.Sprintf(`{"q":%d,"limit":9}`, i))
				mu.Lock()
				answers[who.name] = append(answers[who.name], ans)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	sandboxes := map[string]string{own.Sandbox: "a"}
	for who, token := range map[string]string{"b": "b-token", "c": "c-token"} {
		if len(answers[who]) != calls {
			t.Fatalf("%s: %d answers", who, len(answers[who]))
		}
		for _, ans := range answers[who] {
			if ans.TenantToken == nil || *ans.TenantToken != token {
				t.Errorf("%s's execution saw TENANT_TOKEN %v, want %s", who, ans.TenantToken, token)
			}
			if ans.OwnerSetting == nil || *ans.OwnerSetting != "owner-only" {
				t.Errorf("%s's execution lost the function's own variables: %+v", who, ans)
			}
			if ans.Event["limit"] != float64(9) {
				t.Errorf("%s: the call's own field must win over the alias's parameter: %v", who, ans.Event)
			}
			if other, ok := sandboxes[ans.Sandbox]; ok && other != who {
				t.Errorf("sandbox %s served both %s and %s", ans.Sandbox, other, who)
			}
			sandboxes[ans.Sandbox] = who
		}
	}
	if ev := answers["b"][0].Event; ev["region"] != "eu" {
		t.Errorf("B's parameters not merged: %v", ev)
	}
	if ev := answers["c"][0].Event; ev["region"] != "us" || ev["limit"] != float64(9) {
		t.Errorf("C's parameters not merged: %v", ev)
	}
	if m := fmt.Sprint(answers["b"][0].Memory); m != "128" {
		t.Errorf("B's alias lowers memory to 128, execution had %s", m)
	}
	if arn := answers["b"][0].ARN; !strings.Contains(arn, b.AccountId+":function:calc") {
		t.Errorf("invoked ARN for B: %s", arn)
	}

	// The AWS CLI invokes the alias like any function of B's.
	outFile := t.TempDir() + "/out.json"
	if _, errOut, code := awsCLI(t, shared, b, "lambda", "invoke", "--function-name", "calc", "--payload", "e30=", outFile); code != 0 {
		t.Errorf("aws lambda invoke of the alias: exit %d %s", code, errOut)
	} else if got, _ := os.ReadFile(outFile); !strings.Contains(string(got), `"b-token"`) {
		t.Errorf("aws lambda invoke of the alias answered %s", got)
	}

	// An Event invocation of the alias is accepted and runs as B's too.
	ev, err := bcl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String("calc"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"async":true}`)})
	if err != nil || ev.StatusCode != 202 {
		t.Fatalf("Event invoke of the alias: %v %v", ev, err)
	}
	const bCalls = calls + 2 // the SDK calls, the CLI call, the event

	// B never reads A's code or configuration: not by the alias, not by ARN.
	_, err = bcl.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String("calc")})
	wantErr(t, err, "AccessDeniedException", 403, "GetFunction on the alias")
	_, err = bcl.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(target)})
	wantErr(t, err, "AccessDeniedException", 403, "GetFunction on the target")
	// The name is taken in B's namespace.
	_, err = bcl.CreateFunction(ctxT(t), &lambda.CreateFunctionInput{
		FunctionName: aws.String("calc"), Runtime: "python3.12", Role: aws.String(testRole), Handler: aws.String("app.handler"),
		Code: &types.FunctionCode{ZipFile: zip},
	})
	wantErr(t, err, "ResourceConflictException", 409, "CreateFunction over a cross-account alias")

	// Logs: B's executions are in B's logs, not in A's.
	deadline := time.Now().Add(10 * time.Second)
	for {
		blogs, _, _ := cliShared(t, b, "logs", "calc")
		if strings.Count(blogs, "REPORT RequestId") == bCalls {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's logs for its alias:\n%s", blogs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	alogs, _, _ := cliShared(t, a, "logs", "pricing")
	if n := strings.Count(alogs, "REPORT RequestId"); n != 1 {
		t.Errorf("A's logs hold %d executions, want only its own 1:\n%s", n, alogs)
	}

	// Usage: B and C pay for their calls, A for its own only; A sees the
	// counts on its function, not who made them with what.
	bu := usageBy(t, b, "by=alias")
	if bu["calc"].Invocations != bCalls || bu["calc"].GBSeconds <= 0 {
		t.Errorf("B's usage by alias: %+v", bu)
	}
	cu := usageBy(t, c, "by=alias")
	if cu["calc"].Invocations != calls || cu["calc"].GBSeconds <= 0 {
		t.Errorf("C's usage by alias: %+v", cu)
	}
	au := usageBy(t, a, "by=function")
	if au["pricing"].Invocations != 1 {
		t.Errorf("A paid for others' calls: %+v", au)
	}
	ao := usageBy(t, a, "by=function&role=owner")
	// Others' use of A's function: B's calls and C's.
	if ao["pricing"].Invocations != bCalls+calls {
		t.Errorf("A's owner view of its function: %+v", ao)
	}
	for k := range ao {
		if strings.Contains(k, "calc") {
			t.Errorf("A's owner view names B's alias: %+v", ao)
		}
	}

	// B may put its alias behind an API of its own: a subscriber (C) pays,
	// the execution holds B's variables, and the logs are B's.
	api, _ := apiCLI(t, b, "create", "resale")["ApiId"].(string)
	apiCLI(t, b, "route", api, "GET /quote/{item}", "calc")
	apiCLI(t, b, "publish", api, "--accounts", c.AccountId)
	apiCLI(t, b, "deploy", api, "prod")
	key, _ := apiCLI(t, c, "subscribe", api)["Key"].(string)
	req, _ := http.NewRequest("GET", shared.endpoint+"/apis/"+api+"/prod/quote/plum", nil)
	req.Header.Set("x-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var viaAPI aliasAnswer
	json.NewDecoder(resp.Body).Decode(&viaAPI)
	resp.Body.Close()
	if resp.StatusCode != 200 || viaAPI.TenantToken == nil || *viaAPI.TenantToken != "b-token" || viaAPI.Event["rawPath"] == nil {
		t.Fatalf("C through B's API route to B's alias: %d %+v", resp.StatusCode, viaAPI)
	}
	if got := usageBy(t, c, "by=api"); got[api+"/GET /quote/{item}"].Invocations != 1 {
		t.Errorf("C's usage by api: %+v", got)
	}
	if got := usageBy(t, b, "by=alias"); got["calc"].Invocations != bCalls {
		t.Errorf("B paid for C's API call: %+v", got)
	}

	// Revoking B's grant stops B at the next call; C goes on.
	if _, err := acl.RemovePermission(ctxT(t), &lambda.RemovePermissionInput{FunctionName: aws.String("pricing"), StatementId: aws.String("b-invoke")}); err != nil {
		t.Fatal(err)
	}
	_, err = bcl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String("calc"), Payload: []byte(`{}`)})
	wantErr(t, err, "AccessDeniedException", 403, "B's alias after the grant was revoked")
	if ans := aliasCall(t, ccl, "calc", `{}`); ans.TenantToken == nil || *ans.TenantToken != "c-token" {
		t.Errorf("C after B's revocation: %+v", ans)
	}
	// B's alias record is B's to delete.
	if r := signedRequest(t, shared, b, "DELETE", "/ember/cross-account-aliases/calc", nil, testRegion, time.Time{}); r.status != 204 {
		t.Errorf("delete: %v", r)
	}
	_, err = bcl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String("calc"), Payload: []byte(`{}`)})
	wantErr(t, err, "ResourceNotFoundException", 404, "a deleted alias")
}
