package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestFunctionLifecycle walks a function through create, update, versions, aliases and
// deletion with aws-sdk-go-v2, checking the fields Lambda clients rely on.
func TestFunctionLifecycle(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	acct := newAccount(t, shared, "e2e-lifecycle")
	c := lambdaClient(shared, acct)
	const name = "life"
	fnArn := "arn:aws:lambda:local:" + acct.AccountId + ":function:" + name

	zip1 := pyZip(t, "v1")
	created, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Role:         aws.String(testRole),
		Runtime:      types.RuntimePython312,
		Handler:      aws.String("handler.main"),
		Code:         &types.FunctionCode{ZipFile: zip1},
	})
	if err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	wantStatus(t, created.ResultMetadata, http.StatusCreated, "CreateFunction")
	if created.State != types.StateActive {
		t.Errorf("CreateFunction State = %q, want Active", created.State)
	}
	if created.LastUpdateStatus != types.LastUpdateStatusSuccessful {
		t.Errorf("CreateFunction LastUpdateStatus = %q, want Successful", created.LastUpdateStatus)
	}
	if got, want := str(created.CodeSha256), sha256b64(zip1); got != want {
		t.Errorf("CodeSha256 = %s, want %s", got, want)
	}
	if created.CodeSize != int64(len(zip1)) {
		t.Errorf("CodeSize = %d, want %d", created.CodeSize, len(zip1))
	}
	if str(created.RevisionId) == "" || created.RevisionId == nil {
		t.Errorf("RevisionId is empty")
	}
	if str(created.FunctionArn) != fnArn {
		t.Errorf("FunctionArn = %s, want %s", str(created.FunctionArn), fnArn)
	}
	if str(created.FunctionName) != name {
		t.Errorf("FunctionName = %s, want %s", str(created.FunctionName), name)
	}
	if _, err := time.Parse(lastModifiedLayout, str(created.LastModified)); err != nil {
		t.Errorf("LastModified %q does not parse with %s: %v", str(created.LastModified), lastModifiedLayout, err)
	}
	if str(created.Version) != "$LATEST" {
		t.Errorf("Version = %s, want $LATEST", str(created.Version))
	}
	if aws.ToInt32(created.MemorySize) != 128 || aws.ToInt32(created.Timeout) != 3 {
		t.Errorf("MemorySize/Timeout = %d/%d, want defaults 128/3", aws.ToInt32(created.MemorySize), aws.ToInt32(created.Timeout))
	}
	if created.Runtime != types.RuntimePython312 || str(created.Handler) != "handler.main" || str(created.Role) != testRole {
		t.Errorf("Runtime/Handler/Role = %s/%s/%s", created.Runtime, str(created.Handler), str(created.Role))
	}
	if created.PackageType != "" && created.PackageType != types.PackageTypeZip {
		t.Errorf("PackageType = %s, want Zip", created.PackageType)
	}

	// Creating it again is a conflict.
	_, err = c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: zip1},
	})
	wantErr(t, err, "ResourceConflictException", 409, "CreateFunction of an existing name")

	// GetFunction: configuration plus a download URL for exactly the zip.
	got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetFunction: %v", err)
	}
	wantStatus(t, got.ResultMetadata, 200, "GetFunction")
	if got.Configuration == nil || str(got.Configuration.FunctionArn) != fnArn || str(got.Configuration.RevisionId) != str(created.RevisionId) {
		t.Errorf("GetFunction Configuration = %+v", got.Configuration)
	}
	if got.Code == nil || str(got.Code.Location) == "" || got.Code.Location == nil {
		t.Fatalf("GetFunction Code.Location missing: %+v", got.Code)
	}
	if str(got.Code.RepositoryType) != "S3" {
		t.Logf("note: Code.RepositoryType = %s (Lambda says S3)", str(got.Code.RepositoryType))
	}
	t.Logf("Code.Location = %s", *got.Code.Location)
	checkCodeLocation(t, *got.Code.Location, zip1)

	cfg, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetFunctionConfiguration: %v", err)
	}
	if str(cfg.CodeSha256) != sha256b64(zip1) || str(cfg.RevisionId) != str(created.RevisionId) || cfg.State != types.StateActive {
		t.Errorf("GetFunctionConfiguration = sha %s rev %s state %s", str(cfg.CodeSha256), str(cfg.RevisionId), cfg.State)
	}

	// UpdateFunctionConfiguration changes the RevisionId and the fields.
	upd, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(name),
		MemorySize:   aws.Int32(256),
		Description:  aws.String("second"),
		Environment:  &types.Environment{Variables: map[string]string{"MODE": "test", "NUM": "2"}},
	})
	if err != nil {
		t.Fatalf("UpdateFunctionConfiguration: %v", err)
	}
	wantStatus(t, upd.ResultMetadata, 200, "UpdateFunctionConfiguration")
	if str(upd.RevisionId) == str(created.RevisionId) || upd.RevisionId == nil {
		t.Errorf("RevisionId did not change on UpdateFunctionConfiguration: %s", str(upd.RevisionId))
	}
	cfg, err = c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetFunctionConfiguration: %v", err)
	}
	if aws.ToInt32(cfg.MemorySize) != 256 || str(cfg.Description) != "second" || cfg.Environment == nil ||
		cfg.Environment.Variables["MODE"] != "test" || cfg.Environment.Variables["NUM"] != "2" {
		t.Errorf("after update: memory %d description %q environment %+v", aws.ToInt32(cfg.MemorySize), str(cfg.Description), cfg.Environment)
	}
	if aws.ToInt32(cfg.Timeout) != 3 || cfg.Runtime != types.RuntimePython312 {
		t.Errorf("UpdateFunctionConfiguration changed fields it was not given: timeout %d runtime %s", aws.ToInt32(cfg.Timeout), cfg.Runtime)
	}
	if str(cfg.RevisionId) != str(upd.RevisionId) {
		t.Errorf("RevisionId from Get %s != from Update %s", str(cfg.RevisionId), str(upd.RevisionId))
	}

	// UpdateFunctionCode with DryRun validates and changes nothing.
	dry, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: pyZip(t, "dry"), DryRun: true})
	if err != nil {
		t.Errorf("UpdateFunctionCode DryRun: %v", err)
	} else if dryCfg, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)}); err != nil {
		t.Fatalf("GetFunctionConfiguration: %v", err)
	} else if str(dryCfg.CodeSha256) != sha256b64(zip1) || str(dryCfg.RevisionId) != str(upd.RevisionId) {
		t.Errorf("UpdateFunctionCode DryRun changed the function: sha %s revision %s (dry-run answer sha %s)", str(dryCfg.CodeSha256), str(dryCfg.RevisionId), str(dry.CodeSha256))
	}

	// UpdateFunctionCode.
	zip2 := pyZip(t, "v2")
	uc, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip2})
	if err != nil {
		t.Fatalf("UpdateFunctionCode: %v", err)
	}
	if str(uc.CodeSha256) != sha256b64(zip2) || uc.CodeSize != int64(len(zip2)) {
		t.Errorf("UpdateFunctionCode: sha %s size %d, want %s %d", str(uc.CodeSha256), uc.CodeSize, sha256b64(zip2), len(zip2))
	}
	if str(uc.RevisionId) == str(upd.RevisionId) {
		t.Errorf("RevisionId did not change on UpdateFunctionCode")
	}

	// Versions.
	v1, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name), Description: aws.String("first")})
	if err != nil {
		t.Fatalf("PublishVersion: %v", err)
	}
	wantStatus(t, v1.ResultMetadata, http.StatusCreated, "PublishVersion")
	if str(v1.Version) != "1" || str(v1.FunctionArn) != fnArn+":1" || str(v1.CodeSha256) != sha256b64(zip2) {
		t.Errorf("PublishVersion: version %s arn %s sha %s", str(v1.Version), str(v1.FunctionArn), str(v1.CodeSha256))
	}
	if aws.ToInt32(v1.MemorySize) != 256 {
		t.Errorf("version 1 MemorySize = %d, want 256 (snapshot of $LATEST)", aws.ToInt32(v1.MemorySize))
	}
	again, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("PublishVersion (unchanged): %v", err)
	}
	if str(again.Version) != "1" {
		t.Errorf("PublishVersion with nothing changed returned version %s, want 1 (no new version)", str(again.Version))
	}
	// PublishVersion with a CodeSha256 that does not match $LATEST fails.
	_, err = c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name), CodeSha256: aws.String(sha256b64(zip1))})
	if err == nil {
		t.Errorf("PublishVersion with a CodeSha256 different from $LATEST succeeded")
	}

	zip3 := pyZip(t, "v3")
	if _, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip3}); err != nil {
		t.Fatalf("UpdateFunctionCode: %v", err)
	}
	v2, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("PublishVersion: %v", err)
	}
	if str(v2.Version) != "2" || str(v2.CodeSha256) != sha256b64(zip3) {
		t.Errorf("second PublishVersion: version %s sha %s, want 2 %s", str(v2.Version), str(v2.CodeSha256), sha256b64(zip3))
	}
	if got := listVersions(t, c, name); !slices.Equal(got, []string{"$LATEST", "1", "2"}) {
		t.Errorf("ListVersionsByFunction = %v, want [$LATEST 1 2]", got)
	}
	// FunctionVersion=ALL lists the versions too.
	all, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{FunctionVersion: types.FunctionVersionAll})
	if err != nil {
		t.Errorf("ListFunctions FunctionVersion=ALL: %v", err)
	} else {
		var vs []string
		for _, f := range all.Functions {
			vs = append(vs, str(f.FunctionName)+":"+str(f.Version))
		}
		slices.Sort(vs)
		if !slices.Equal(vs, []string{"life:$LATEST", "life:1", "life:2"}) {
			t.Errorf("ListFunctions FunctionVersion=ALL = %v, want life:$LATEST, life:1, life:2", vs)
		}
	}
	// A published version keeps its own code.
	gv1, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
	if err != nil {
		t.Fatalf("GetFunction :1: %v", err)
	}
	if str(gv1.Configuration.Version) != "1" || str(gv1.Configuration.CodeSha256) != sha256b64(zip2) {
		t.Errorf("GetFunction :1: version %s sha %s", str(gv1.Configuration.Version), str(gv1.Configuration.CodeSha256))
	}
	if gv1.Code != nil && gv1.Code.Location != nil {
		checkCodeLocation(t, *gv1.Code.Location, zip2)
	} else {
		t.Errorf("GetFunction :1 has no Code.Location")
	}

	// The four FunctionName forms.
	for _, tc := range []struct {
		fn, qual, wantVersion string
	}{
		{name, "", "$LATEST"},
		{name + ":1", "", "1"},
		{name, "2", "2"},
		{acct.AccountId + ":function:" + name, "", "$LATEST"},
		{acct.AccountId + ":function:" + name + ":2", "", "2"},
		{fnArn, "", "$LATEST"},
		{fnArn + ":1", "", "1"},
		{fnArn, "$LATEST", "$LATEST"},
	} {
		in := &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(tc.fn)}
		if tc.qual != "" {
			in.Qualifier = aws.String(tc.qual)
		}
		out, err := c.GetFunctionConfiguration(ctx, in)
		if err != nil {
			t.Errorf("GetFunctionConfiguration(%q, qualifier %q): %v", tc.fn, tc.qual, err)
			continue
		}
		if str(out.Version) != tc.wantVersion || str(out.FunctionName) != name {
			t.Errorf("GetFunctionConfiguration(%q, qualifier %q): version %s name %s, want %s %s", tc.fn, tc.qual, str(out.Version), str(out.FunctionName), tc.wantVersion, name)
		}
	}
	_, err = c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String("9")})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetFunctionConfiguration of a missing version")
	// Any region in the signing scope is accepted.
	if _, err := lambdaClientRegion(shared, acct, "us-east-1").GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fnArn)}); err != nil {
		t.Errorf("GetFunctionConfiguration signed for us-east-1: %v", err)
	}

	// Aliases.
	ca, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{
		FunctionName:    aws.String(name),
		Name:            aws.String("live"),
		FunctionVersion: aws.String("1"),
		Description:     aws.String("live traffic"),
		RoutingConfig:   &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.3}},
	})
	if err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	wantStatus(t, ca.ResultMetadata, http.StatusCreated, "CreateAlias")
	if str(ca.AliasArn) != fnArn+":live" || str(ca.FunctionVersion) != "1" || str(ca.Name) != "live" || str(ca.RevisionId) == "" || ca.RevisionId == nil {
		t.Errorf("CreateAlias: %+v", ca)
	}
	if ca.RoutingConfig == nil || ca.RoutingConfig.AdditionalVersionWeights["2"] != 0.3 {
		t.Errorf("CreateAlias RoutingConfig = %+v", ca.RoutingConfig)
	}
	_, err = c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("2")})
	wantErr(t, err, "ResourceConflictException", 409, "CreateAlias of an existing alias")

	ga, err := c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("live")})
	if err != nil {
		t.Fatalf("GetAlias: %v", err)
	}
	if str(ga.FunctionVersion) != "1" || str(ga.Description) != "live traffic" || ga.RoutingConfig == nil || ga.RoutingConfig.AdditionalVersionWeights["2"] != 0.3 {
		t.Errorf("GetAlias = %+v", ga)
	}
	// The alias is a qualifier too.
	ac, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name + ":live")})
	if err != nil {
		t.Errorf("GetFunctionConfiguration name:live: %v", err)
	} else if str(ac.Version) != "1" {
		t.Errorf("GetFunctionConfiguration name:live Version = %s, want 1", str(ac.Version))
	}

	ua, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{
		FunctionName:  aws.String(name),
		Name:          aws.String("live"),
		Description:   aws.String("half"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.5}},
	})
	if err != nil {
		t.Fatalf("UpdateAlias: %v", err)
	}
	if str(ua.Description) != "half" || str(ua.FunctionVersion) != "1" || ua.RoutingConfig == nil || ua.RoutingConfig.AdditionalVersionWeights["2"] != 0.5 {
		t.Errorf("UpdateAlias = %+v", ua)
	}
	if str(ua.RevisionId) == str(ca.RevisionId) {
		t.Errorf("alias RevisionId did not change on UpdateAlias")
	}
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("beta"), FunctionVersion: aws.String("$LATEST")}); err != nil {
		t.Errorf("CreateAlias beta -> $LATEST: %v", err)
	}
	la, err := c.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("ListAliases: %v", err)
	}
	var aliasNames []string
	for _, a := range la.Aliases {
		aliasNames = append(aliasNames, str(a.Name))
	}
	slices.Sort(aliasNames)
	if !slices.Equal(aliasNames, []string{"beta", "live"}) {
		t.Errorf("ListAliases = %v, want [beta live]", aliasNames)
	}
	la, err = c.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String(name), FunctionVersion: aws.String("1")})
	if err != nil {
		t.Errorf("ListAliases FunctionVersion=1: %v", err)
	} else if len(la.Aliases) != 1 || str(la.Aliases[0].Name) != "live" {
		t.Errorf("ListAliases FunctionVersion=1 returned %d aliases, want only live", len(la.Aliases))
	}

	// Invalid routing configurations. A third version makes "two additional versions" possible.
	zip4 := pyZip(t, "v4")
	if _, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip4, Publish: true}); err != nil {
		t.Fatalf("UpdateFunctionCode Publish: %v", err)
	}
	if got := listVersions(t, c, name); !slices.Equal(got, []string{"$LATEST", "1", "2", "3"}) {
		t.Errorf("after UpdateFunctionCode with Publish: versions %v, want [$LATEST 1 2 3]", got)
	}
	for _, tc := range []struct {
		what    string
		primary string
		weights map[string]float64
	}{
		{"weight 1.5", "1", map[string]float64{"2": 1.5}},
		{"negative weight", "1", map[string]float64{"2": -0.1}},
		{"$LATEST as additional version", "1", map[string]float64{"$LATEST": 0.2}},
		{"two additional versions", "1", map[string]float64{"2": 0.1, "3": 0.1}},
		{"$LATEST as primary with routing", "$LATEST", map[string]float64{"2": 0.2}},
		{"additional version that does not exist", "1", map[string]float64{"7": 0.2}},
	} {
		_, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{
			FunctionName: aws.String(name), Name: aws.String("bad"), FunctionVersion: aws.String(tc.primary),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: tc.weights},
		})
		wantErrOneOf(t, err, "CreateAlias with "+tc.what, "InvalidParameterValueException", "ResourceNotFoundException")
		if code, _ := apiErr(err); code == "ResourceNotFoundException" && tc.what != "additional version that does not exist" {
			t.Errorf("CreateAlias with %s: got ResourceNotFoundException, want InvalidParameterValueException", tc.what)
		}
		_, err = c.UpdateAlias(ctx, &lambda.UpdateAliasInput{
			FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String(tc.primary),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: tc.weights},
		})
		wantErrOneOf(t, err, "UpdateAlias with "+tc.what, "InvalidParameterValueException", "ResourceNotFoundException")
	}
	_, err = c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("bad")})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetAlias of an alias whose creation failed")
	ga, err = c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("live")})
	if err != nil {
		t.Fatalf("GetAlias: %v", err)
	}
	if str(ga.FunctionVersion) != "1" || ga.RoutingConfig == nil || ga.RoutingConfig.AdditionalVersionWeights["2"] != 0.5 || len(ga.RoutingConfig.AdditionalVersionWeights) != 1 {
		t.Errorf("alias live changed by failed updates: %+v", ga)
	}
	_, err = c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("123"), FunctionVersion: aws.String("1")})
	wantErrOneOf(t, err, "CreateAlias with an all-digit name", "InvalidParameterValueException", "ValidationException")

	// An empty AdditionalVersionWeights clears the routing, and it can be set again.
	cleared, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{
		FunctionName: aws.String(name), Name: aws.String("live"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}},
	})
	if err != nil {
		t.Errorf("UpdateAlias with empty AdditionalVersionWeights: %v", err)
	} else if cleared.RoutingConfig != nil && len(cleared.RoutingConfig.AdditionalVersionWeights) != 0 {
		t.Errorf("UpdateAlias with empty AdditionalVersionWeights left routing %v", cleared.RoutingConfig.AdditionalVersionWeights)
	}
	if _, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{
		FunctionName: aws.String(name), Name: aws.String("live"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.5}},
	}); err != nil {
		t.Fatalf("UpdateAlias restoring routing: %v", err)
	}

	// Deleting a version an alias points at is a conflict.
	_, err = c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
	wantErr(t, err, "ResourceConflictException", 409, "DeleteFunction :1 while alias live uses it")
	// ... and so is deleting the additional version of a routing config.
	_, err = c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("2")})
	wantErr(t, err, "ResourceConflictException", 409, "DeleteFunction :2 while alias live routes to it")

	da, err := c.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: aws.String(name), Name: aws.String("live")})
	if err != nil {
		t.Fatalf("DeleteAlias: %v", err)
	}
	wantStatus(t, da.ResultMetadata, http.StatusNoContent, "DeleteAlias")
	_, err = c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("live")})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetAlias after DeleteAlias")

	dv, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
	if err != nil {
		t.Fatalf("DeleteFunction :1: %v", err)
	}
	wantStatus(t, dv.ResultMetadata, http.StatusNoContent, "DeleteFunction :1")
	_, err = c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetFunctionConfiguration :1 after deleting it")
	if got := listVersions(t, c, name); !slices.Equal(got, []string{"$LATEST", "2", "3"}) {
		t.Errorf("ListVersionsByFunction after deleting 1 = %v, want [$LATEST 2 3]", got)
	}
	// Deleted version numbers are not reused, not even the highest.
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("3")}); err != nil {
		t.Fatalf("DeleteFunction :3: %v", err)
	}
	if _, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: pyZip(t, "v5")}); err != nil {
		t.Fatalf("UpdateFunctionCode: %v", err)
	}
	v4, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("PublishVersion: %v", err)
	}
	if str(v4.Version) != "4" {
		t.Errorf("PublishVersion after deleting 1 gave %s, want 4", str(v4.Version))
	}

	df, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("DeleteFunction: %v", err)
	}
	wantStatus(t, df.ResultMetadata, http.StatusNoContent, "DeleteFunction")
	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetFunction after DeleteFunction")
	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("2")})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetFunction :2 after DeleteFunction")
	_, err = c.ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(name)})
	wantErr(t, err, "ResourceNotFoundException", 404, "ListVersionsByFunction after DeleteFunction")
	_, err = c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("beta")})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetAlias after DeleteFunction")
	_, err = c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
	wantErr(t, err, "ResourceNotFoundException", 404, "DeleteFunction twice")

	// The name can be used again and starts from scratch.
	re, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: bootstrapZip(t, "again")},
	})
	if err != nil {
		t.Fatalf("CreateFunction after delete: %v", err)
	}
	if got := listVersions(t, c, name); !slices.Equal(got, []string{"$LATEST"}) {
		t.Errorf("versions of a re-created function = %v, want [$LATEST]", got)
	}
	if aws.ToInt32(re.MemorySize) != 128 {
		t.Errorf("re-created function kept old MemorySize %d", aws.ToInt32(re.MemorySize))
	}
}

// checkCodeLocation downloads a Code.Location with plain HTTP (no signing) and compares it
// with the zip; tampered URLs must be refused.
func checkCodeLocation(t *testing.T, loc string, want []byte) {
	t.Helper()
	resp, err := http.Get(loc)
	if err != nil {
		t.Errorf("GET Code.Location %s: %v", loc, err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET Code.Location %s: HTTP %d: %s", loc, resp.StatusCode, body)
	} else if !bytes.Equal(body, want) {
		t.Errorf("GET Code.Location: got %d bytes (sha %s), want %d bytes (sha %s)", len(body), sha256b64(body), len(want), sha256b64(want))
	}
	for _, bad := range tamperURL(t, loc) {
		resp, err := http.Get(bad.url)
		if err != nil {
			t.Errorf("GET Code.Location with %s (%s): %v", bad.what, bad.url, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bad.exact403 && resp.StatusCode != http.StatusForbidden || resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("GET Code.Location with %s (%s): HTTP %d, want 403 (body %.200q)", bad.what, bad.url, resp.StatusCode, b)
		}
	}
}

type tampered struct {
	what     string
	url      string
	exact403 bool // otherwise any 4xx
}

// tamperURL returns variants of a signed URL that must not be accepted: each query value
// with its last character changed (403), the URL without its query and with another path
// (4xx).
func tamperURL(t *testing.T, loc string) []tampered {
	u, err := url.Parse(loc)
	if err != nil {
		t.Errorf("Code.Location %q is not a URL: %v", loc, err)
		return nil
	}
	q := u.Query()
	if len(q) == 0 {
		t.Errorf("Code.Location %q carries no query (expected a signed, expiring URL)", loc)
		return nil
	}
	var out []tampered
	for k, vs := range q {
		if len(vs) == 0 || vs[0] == "" {
			continue
		}
		v := vs[0]
		// '0'/'1' differ under any case folding (hex signatures decode either case).
		repl := byte('0')
		if v[len(v)-1] == '0' {
			repl = '1'
		}
		q2 := u.Query()
		q2.Set(k, v[:len(v)-1]+string(repl))
		u2 := *u
		u2.RawQuery = q2.Encode()
		out = append(out, tampered{"query parameter " + k + " changed", u2.String(), true})
	}
	u3 := *u
	u3.RawQuery = ""
	out = append(out, tampered{"no query", u3.String(), false})
	u4 := *u
	u4.Path = strings.TrimSuffix(u.Path, "/") + "x"
	u4.RawPath = ""
	out = append(out, tampered{"another path", u4.String(), false})
	return out
}

func listVersions(t *testing.T, c *lambda.Client, name string) []string {
	t.Helper()
	var vs []string
	p := lambda.NewListVersionsByFunctionPaginator(c, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctxT(t))
		if err != nil {
			t.Fatalf("ListVersionsByFunction %s: %v", name, err)
		}
		for _, v := range page.Versions {
			vs = append(vs, str(v.Version))
		}
	}
	return vs
}

// TestRevisionIdLocking checks optimistic locking with stale RevisionIds.
func TestRevisionIdLocking(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	acct := newAccount(t, shared, "e2e-revision")
	c := lambdaClient(shared, acct)
	const name = "rev"
	created, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: bootstrapZip(t, "rev")},
	})
	if err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	stale := str(created.RevisionId)
	upd, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(name), Description: aws.String("one"), RevisionId: aws.String(stale),
	})
	if err != nil {
		t.Fatalf("UpdateFunctionConfiguration with the current RevisionId: %v", err)
	}
	_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(name), Description: aws.String("two"), RevisionId: aws.String(stale),
	})
	wantErr(t, err, "PreconditionFailedException", 412, "UpdateFunctionConfiguration with a stale RevisionId")
	_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
		FunctionName: aws.String(name), ZipFile: bootstrapZip(t, "rev2"), RevisionId: aws.String(stale),
	})
	wantErr(t, err, "PreconditionFailedException", 412, "UpdateFunctionCode with a stale RevisionId")
	_, err = c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name), RevisionId: aws.String(stale)})
	wantErr(t, err, "PreconditionFailedException", 412, "PublishVersion with a stale RevisionId")
	cfg, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetFunctionConfiguration: %v", err)
	}
	if str(cfg.Description) != "one" || str(cfg.RevisionId) != str(upd.RevisionId) || str(cfg.CodeSha256) != str(created.CodeSha256) {
		t.Errorf("a refused update changed the function: description %q revision %s sha %s", str(cfg.Description), str(cfg.RevisionId), str(cfg.CodeSha256))
	}

	v, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name), RevisionId: cfg.RevisionId})
	if err != nil {
		t.Fatalf("PublishVersion with the current RevisionId: %v", err)
	}
	al, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("prod"), FunctionVersion: v.Version})
	if err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	ua, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("prod"), Description: aws.String("x"), RevisionId: al.RevisionId})
	if err != nil {
		t.Fatalf("UpdateAlias with the current RevisionId: %v", err)
	}
	_, err = c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("prod"), Description: aws.String("y"), RevisionId: al.RevisionId})
	wantErr(t, err, "PreconditionFailedException", 412, "UpdateAlias with a stale RevisionId")
	ga, err := c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("prod")})
	if err != nil {
		t.Fatalf("GetAlias: %v", err)
	}
	if str(ga.Description) != "x" || str(ga.RevisionId) != str(ua.RevisionId) {
		t.Errorf("alias after refused update: description %q revision %s", str(ga.Description), str(ga.RevisionId))
	}

	// Racing writers with the same RevisionId: exactly one wins.
	cur, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetFunctionConfiguration: %v", err)
	}
	const racers = 12
	results := make(chan error, racers)
	for i := range racers {
		go func() {
			_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
				FunctionName: aws.String(name), Description: aws.String(fmt.Sprintf("racer %d", i)), RevisionId: cur.RevisionId,
			})
			results <- err
		}()
	}
	wins := 0
	for range racers {
		if err := <-results; err == nil {
			wins++
		} else if code, _ := apiErr(err); code != "PreconditionFailedException" && code != "ResourceConflictException" {
			t.Errorf("racing UpdateFunctionConfiguration: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d UpdateFunctionConfiguration calls with the same RevisionId succeeded, want exactly 1", wins, racers)
	}
	// Racing creators of one name: exactly one wins, the rest get ResourceConflictException.
	for i := range racers {
		go func() {
			_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
				FunctionName: aws.String("contended"), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2023,
				Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: bootstrapZip(t, fmt.Sprint("racer", i))},
			})
			results <- err
		}()
	}
	wins = 0
	for range racers {
		if err := <-results; err == nil {
			wins++
		} else {
			wantErr(t, err, "ResourceConflictException", 409, "racing CreateFunction of one name")
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent CreateFunction calls for one name succeeded, want exactly 1", wins, racers)
	}
}

// TestQualifiedNameOnFunctionLevelOperations checks that operations which act on the
// function as a whole (or on $LATEST) refuse a FunctionName carrying a version qualifier
// instead of silently applying to the unqualified function, as the server already does for
// UpdateFunctionConfiguration and TagResource.
func TestQualifiedNameOnFunctionLevelOperations(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	acct := newAccount(t, shared, "e2e-qualified")
	c := lambdaClient(shared, acct)
	const name = "qual"
	zip := pyZip(t, "qual")
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: zip}, Publish: true,
	}); err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	fnArn := "arn:aws:lambda:local:" + acct.AccountId + ":function:" + name
	want4xx := func(what string, err error) {
		t.Helper()
		if _, st := apiErr(err); err == nil || st < 400 || st >= 500 {
			t.Errorf("%s: %v, want a 4xx error (the qualifier must not be ignored)", what, err)
		}
	}
	_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name + ":1"), Description: aws.String("mutated")})
	want4xx("UpdateFunctionConfiguration of name:1", err)
	_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name + ":1"), ZipFile: pyZip(t, "mutated")})
	want4xx("UpdateFunctionCode of name:1", err)
	_, err = c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name + ":1")})
	want4xx("PublishVersion of name:1", err)
	_, err = c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(name + ":1"), ReservedConcurrentExecutions: aws.Int32(2)})
	want4xx("PutFunctionConcurrency of name:1", err)
	_, err = c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(name + ":1"), Name: aws.String("al"), FunctionVersion: aws.String("1")})
	want4xx("CreateAlias on name:1", err)
	_, err = c.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(fnArn + ":1"), Tags: map[string]string{"a": "b"}})
	want4xx("TagResource of ARN:1", err)

	cfg, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetFunctionConfiguration: %v", err)
	}
	if str(cfg.CodeSha256) != sha256b64(zip) {
		t.Errorf("$LATEST code changed through a call on name:1 (sha %s)", str(cfg.CodeSha256))
	}
	v1, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name + ":1")})
	if err != nil {
		t.Fatalf("GetFunctionConfiguration :1: %v", err)
	}
	if str(v1.CodeSha256) != sha256b64(zip) || str(v1.Description) == "mutated" {
		t.Errorf("version 1 changed: sha %s description %q", str(v1.CodeSha256), str(v1.Description))
	}
	if got := listVersions(t, c, name); !slices.Equal(got, []string{"$LATEST", "1"}) {
		t.Errorf("versions = %v, want [$LATEST 1]", got)
	}
}
