package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

type policyStatement struct {
	Sid       string
	Effect    string
	Principal any
	Action    any
	Resource  any
}

type policyDoc struct {
	Version   string
	Id        string
	Statement []policyStatement
}

// principalAWS returns Principal.AWS, or the principal itself when it is a string ("*").
func principalAWS(p any) string {
	switch v := p.(type) {
	case string:
		return v
	case map[string]any:
		if s, ok := v["AWS"].(string); ok {
			return s
		}
		if s, ok := v["Service"].(string); ok {
			return "service:" + s
		}
	}
	b, _ := json.Marshal(p)
	return string(b)
}

func findStatement(t *testing.T, policy *string, sid string) *policyStatement {
	t.Helper()
	if policy == nil {
		t.Errorf("GetPolicy: Policy is absent")
		return nil
	}
	var doc policyDoc
	if err := json.Unmarshal([]byte(*policy), &doc); err != nil {
		t.Errorf("GetPolicy: Policy is not a JSON document: %v: %s", err, *policy)
		return nil
	}
	if doc.Version != "2012-10-17" {
		t.Errorf("policy Version = %q, want 2012-10-17", doc.Version)
	}
	for i := range doc.Statement {
		if doc.Statement[i].Sid == sid {
			return &doc.Statement[i]
		}
	}
	t.Errorf("policy has no statement %q: %s", sid, *policy)
	return nil
}

// TestCrossAccountPermissions checks that another account's function is invisible until a
// resource policy grants access, that grants never expose the code, and qualifier scoping.
func TestCrossAccountPermissions(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	a := newAccount(t, shared, "e2e-perm-owner")
	b := newAccount(t, shared, "e2e-perm-grantee")
	cAcct := newAccount(t, shared, "e2e-perm-bystander")
	ac, bc, cc := lambdaClient(shared, a), lambdaClient(shared, b), lambdaClient(shared, cAcct)

	const name = "shared-fn"
	zip := pyZip(t, "secret code")
	created, err := ac.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: zip}, Publish: true,
	})
	if err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	fnArn := "arn:aws:lambda:local:" + a.AccountId + ":function:" + name
	if got := str(created.FunctionArn); got != fnArn && got != fnArn+":1" {
		t.Errorf("CreateFunction with Publish: FunctionArn %s", got)
	}
	if got := listVersions(t, ac, name); len(got) != 2 {
		t.Fatalf("CreateFunction with Publish: versions %v, want [$LATEST 1]", got)
	}
	if _, err := ac.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("prod"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	partial := a.AccountId + ":function:" + name

	getCfg := func(c *lambda.Client, fn string) (*lambda.GetFunctionConfigurationOutput, error) {
		return c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fn)})
	}

	// Invisible before any grant.
	_, err = getCfg(bc, fnArn)
	wantErr(t, err, "ResourceNotFoundException", 404, "B GetFunctionConfiguration of A's function by ARN, no grant")
	_, err = getCfg(bc, partial)
	wantErr(t, err, "ResourceNotFoundException", 404, "B GetFunctionConfiguration of A's function by partial ARN, no grant")
	_, err = bc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(fnArn)})
	wantErr(t, err, "ResourceNotFoundException", 404, "B GetFunction of A's function, no grant")
	_, err = ac.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(name)})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetPolicy with no statements")

	add, err := ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(name), StatementId: aws.String("b-config"),
		Action: aws.String("lambda:GetFunctionConfiguration"), Principal: aws.String(b.AccountId),
	})
	if err != nil {
		t.Fatalf("AddPermission: %v", err)
	}
	wantStatus(t, add.ResultMetadata, http.StatusCreated, "AddPermission")
	var st policyStatement
	if add.Statement == nil {
		t.Errorf("AddPermission returned no Statement")
	} else if err := json.Unmarshal([]byte(*add.Statement), &st); err != nil {
		t.Errorf("AddPermission Statement is not a JSON string of a statement: %v: %s", err, *add.Statement)
	} else {
		if st.Sid != "b-config" || st.Effect != "Allow" || principalAWS(st.Principal) != "arn:aws:iam::"+b.AccountId+":root" ||
			st.Action != "lambda:GetFunctionConfiguration" || st.Resource != fnArn {
			t.Errorf("AddPermission Statement = %s", *add.Statement)
		}
	}
	pol, err := ac.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetPolicy: %v", err)
	}
	if s := findStatement(t, pol.Policy, "b-config"); s != nil {
		if got := principalAWS(s.Principal); got != "arn:aws:iam::"+b.AccountId+":root" {
			t.Errorf("policy Principal = %s, want {\"AWS\":\"arn:aws:iam::%s:root\"}", got, b.AccountId)
		}
		if s.Effect != "Allow" || s.Resource != fnArn {
			t.Errorf("policy statement Effect %v Resource %v", s.Effect, s.Resource)
		}
	}
	if str(pol.RevisionId) == "" || pol.RevisionId == nil {
		t.Errorf("GetPolicy RevisionId empty")
	}

	// Duplicate statement id.
	_, err = ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(name), StatementId: aws.String("b-config"),
		Action: aws.String("lambda:GetFunction"), Principal: aws.String(b.AccountId),
	})
	wantErr(t, err, "ResourceConflictException", 409, "AddPermission with a duplicate StatementId")

	// B can now read the configuration, C still cannot.
	bcfg, err := getCfg(bc, fnArn)
	if err != nil {
		t.Errorf("B GetFunctionConfiguration after grant: %v", err)
	} else if str(bcfg.FunctionArn) != fnArn {
		t.Errorf("B sees FunctionArn %s, want %s", str(bcfg.FunctionArn), fnArn)
	}
	if _, err := getCfg(bc, partial); err != nil {
		t.Errorf("B GetFunctionConfiguration by partial ARN after grant: %v", err)
	}
	_, err = getCfg(cc, fnArn)
	wantErr(t, err, "ResourceNotFoundException", 404, "C GetFunctionConfiguration, grant is only for B")
	// B's own namespace is unaffected: the plain name means B's function.
	_, err = getCfg(bc, name)
	wantErr(t, err, "ResourceNotFoundException", 404, "B GetFunctionConfiguration by plain name (B's namespace)")

	// Even with lambda:GetFunction granted, B never gets the code.
	if _, err := ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(name), StatementId: aws.String("b-get"),
		Action: aws.String("lambda:GetFunction"), Principal: aws.String(b.AccountId),
	}); err != nil {
		t.Fatalf("AddPermission lambda:GetFunction: %v", err)
	}
	gf, err := bc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(fnArn)})
	if err == nil {
		t.Logf("B GetFunction with lambda:GetFunction granted → Code %+v", gf.Code)
	} else {
		t.Logf("B GetFunction with lambda:GetFunction granted → %v", err)
	}
	if err != nil {
		wantErrOneOf(t, err, "B GetFunction with lambda:GetFunction granted", "AccessDeniedException", "ResourceNotFoundException")
	} else if gf.Code != nil && gf.Code.Location != nil && *gf.Code.Location != "" {
		t.Errorf("B GetFunction on A's function returned Code.Location %s: the grantee must never get the code", *gf.Code.Location)
		if resp, err := http.Get(*gf.Code.Location); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Errorf("... and B downloaded %d bytes of A's code", len(body))
			}
		}
	}

	// B cannot read A's policy, and A's function is not in B's list.
	_, err = bc.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(fnArn)})
	wantErrOneOf(t, err, "B GetPolicy on A's function", "AccessDeniedException", "ResourceNotFoundException")
	if bl, err := bc.ListFunctions(ctx, &lambda.ListFunctionsInput{}); err != nil {
		t.Errorf("B ListFunctions: %v", err)
	} else if len(bl.Functions) != 0 {
		t.Errorf("B ListFunctions shows %d functions (first %s), want none", len(bl.Functions), str(bl.Functions[0].FunctionArn))
	}

	// B cannot change or delete A's function or its policy.
	_, err = bc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(fnArn), ZipFile: pyZip(t, "evil")})
	wantErrOneOf(t, err, "B UpdateFunctionCode on A's function", "AccessDeniedException", "ResourceNotFoundException")
	_, err = bc.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(fnArn), Description: aws.String("evil")})
	wantErrOneOf(t, err, "B UpdateFunctionConfiguration on A's function", "AccessDeniedException", "ResourceNotFoundException")
	_, err = bc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(fnArn)})
	wantErrOneOf(t, err, "B DeleteFunction on A's function", "AccessDeniedException", "ResourceNotFoundException")
	_, err = bc.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(fnArn)})
	wantErrOneOf(t, err, "B PublishVersion on A's function", "AccessDeniedException", "ResourceNotFoundException")
	_, err = bc.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(fnArn), StatementId: aws.String("b-self"),
		Action: aws.String("lambda:*"), Principal: aws.String(b.AccountId),
	})
	wantErrOneOf(t, err, "B AddPermission on A's function", "AccessDeniedException", "ResourceNotFoundException")
	_, err = bc.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(fnArn), StatementId: aws.String("b-config")})
	wantErrOneOf(t, err, "B RemovePermission on A's function", "AccessDeniedException", "ResourceNotFoundException")
	_, err = bc.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(fnArn), Name: aws.String("evil"), FunctionVersion: aws.String("1")})
	wantErrOneOf(t, err, "B CreateAlias on A's function", "AccessDeniedException", "ResourceNotFoundException")
	after, err := getCfg(ac, name)
	if err != nil {
		t.Fatalf("A GetFunctionConfiguration: %v", err)
	}
	if str(after.CodeSha256) != sha256b64(zip) || after.Description != nil && *after.Description == "evil" {
		t.Errorf("B changed A's function: sha %s description %q", str(after.CodeSha256), str(after.Description))
	}

	// Revoking.
	rp, err := ac.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(name), StatementId: aws.String("b-config")})
	if err != nil {
		t.Fatalf("RemovePermission: %v", err)
	}
	wantStatus(t, rp.ResultMetadata, http.StatusNoContent, "RemovePermission")
	_, err = ac.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(name), StatementId: aws.String("b-config")})
	wantErr(t, err, "ResourceNotFoundException", 404, "RemovePermission of a removed statement")
	if _, err := ac.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(name), StatementId: aws.String("b-get")}); err != nil {
		t.Fatalf("RemovePermission b-get: %v", err)
	}
	_, err = getCfg(bc, fnArn)
	wantErrOneOf(t, err, "B GetFunctionConfiguration after RemovePermission", "ResourceNotFoundException")
	_, err = ac.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(name)})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetPolicy after removing every statement")

	// Principal given as an IAM root ARN, and "*".
	if _, err := ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(name), StatementId: aws.String("c-arn"),
		Action: aws.String("lambda:GetFunctionConfiguration"), Principal: aws.String("arn:aws:iam::" + cAcct.AccountId + ":root"),
	}); err != nil {
		t.Fatalf("AddPermission with an ARN principal: %v", err)
	}
	if _, err := getCfg(cc, fnArn); err != nil {
		t.Errorf("C GetFunctionConfiguration with an ARN-principal grant: %v", err)
	}
	_, err = getCfg(bc, fnArn)
	wantErr(t, err, "ResourceNotFoundException", 404, "B GetFunctionConfiguration, grant is only for C")
	if _, err := ac.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(name), StatementId: aws.String("c-arn")}); err != nil {
		t.Fatalf("RemovePermission c-arn: %v", err)
	}
	if _, err := ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(name), StatementId: aws.String("everyone"),
		Action: aws.String("lambda:GetFunctionConfiguration"), Principal: aws.String("*"),
	}); err != nil {
		t.Fatalf("AddPermission with principal *: %v", err)
	}
	for who, cl := range map[string]*lambda.Client{"B": bc, "C": cc} {
		if _, err := getCfg(cl, fnArn); err != nil {
			t.Errorf("%s GetFunctionConfiguration with a * grant: %v", who, err)
		}
	}
	if _, err := ac.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(name), StatementId: aws.String("everyone")}); err != nil {
		t.Fatalf("RemovePermission everyone: %v", err)
	}
	_, err = getCfg(cc, fnArn)
	wantErr(t, err, "ResourceNotFoundException", 404, "C GetFunctionConfiguration after removing the * grant")

	// A qualifier-scoped statement grants only that qualifier.
	qadd, err := ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(name), Qualifier: aws.String("prod"), StatementId: aws.String("b-prod"),
		Action: aws.String("lambda:GetFunctionConfiguration"), Principal: aws.String(b.AccountId),
	})
	if err != nil {
		t.Fatalf("AddPermission Qualifier=prod: %v", err)
	}
	var qst policyStatement
	if qadd.Statement != nil && json.Unmarshal([]byte(*qadd.Statement), &qst) == nil {
		if qst.Resource != fnArn+":prod" {
			t.Errorf("qualified statement Resource = %v, want %s:prod", qst.Resource, fnArn)
		}
	} else {
		t.Errorf("AddPermission Qualifier=prod: bad Statement %v", qadd.Statement)
	}
	qpol, err := ac.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(name), Qualifier: aws.String("prod")})
	if err != nil {
		t.Errorf("GetPolicy Qualifier=prod: %v", err)
	} else {
		findStatement(t, qpol.Policy, "b-prod")
	}
	_, err = ac.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(name)})
	wantErr(t, err, "ResourceNotFoundException", 404, "unqualified GetPolicy when only prod has a statement")

	pc, err := getCfg(bc, fnArn+":prod")
	if err != nil {
		t.Errorf("B GetFunctionConfiguration of :prod with a prod grant: %v", err)
	} else if str(pc.Version) != "1" {
		t.Errorf("B GetFunctionConfiguration of :prod: Version %s, want 1", str(pc.Version))
	}
	if _, err := bc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fnArn), Qualifier: aws.String("prod")}); err != nil {
		t.Errorf("B GetFunctionConfiguration(ARN, Qualifier=prod): %v", err)
	}
	_, err = getCfg(bc, fnArn)
	wantErrOneOf(t, err, "B GetFunctionConfiguration of unqualified ARN with only a prod grant", "ResourceNotFoundException", "AccessDeniedException")
	_, err = getCfg(bc, fnArn+":1")
	wantErrOneOf(t, err, "B GetFunctionConfiguration of :1 with only a prod grant", "ResourceNotFoundException", "AccessDeniedException")
	_, err = getCfg(bc, fnArn+":$LATEST")
	wantErrOneOf(t, err, "B GetFunctionConfiguration of :$LATEST with only a prod grant", "ResourceNotFoundException", "AccessDeniedException")

	// Not even lambda:* on the alias gives B the code.
	if _, err := ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(name), Qualifier: aws.String("prod"), StatementId: aws.String("b-prod-all"),
		Action: aws.String("lambda:*"), Principal: aws.String(b.AccountId),
	}); err != nil {
		t.Fatalf("AddPermission lambda:* Qualifier=prod: %v", err)
	}
	pgf, err := bc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(fnArn + ":prod")})
	if err != nil {
		wantErrOneOf(t, err, "B GetFunction :prod with lambda:* granted", "AccessDeniedException", "ResourceNotFoundException")
	} else if pgf.Code != nil && pgf.Code.Location != nil && *pgf.Code.Location != "" {
		t.Errorf("B GetFunction :prod with lambda:* returned Code.Location %s: the grantee must never get the code", *pgf.Code.Location)
	}

	// Bad AddPermission input.
	_, err = ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(name), StatementId: aws.String("bad-action"),
		Action: aws.String("s3:GetObject"), Principal: aws.String(b.AccountId),
	})
	wantErrOneOf(t, err, "AddPermission with a non-lambda action", "InvalidParameterValueException", "ValidationException")
	_, err = ac.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String("nope"), StatementId: aws.String("x"),
		Action: aws.String("lambda:GetFunction"), Principal: aws.String(b.AccountId),
	})
	wantErr(t, err, "ResourceNotFoundException", 404, "AddPermission on a missing function")
}
