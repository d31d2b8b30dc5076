package api

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/catalog"
)

func (s *Server) lambdaRoutes() []route {
	const fn = "/2015-03-31/functions"
	return []route{
		{"POST " + fn, maxCodeBody, s.createFunction},
		{"GET " + fn, maxDefaultBody, s.listFunctions},
		{"GET " + fn + "/{$}", maxDefaultBody, s.listFunctions},
		{"GET " + fn + "/{name}", maxDefaultBody, s.getFunction},
		{"DELETE " + fn + "/{name}", maxDefaultBody, s.deleteFunction},
		{"GET " + fn + "/{name}/configuration", maxDefaultBody, s.getFunctionConfiguration},
		{"PUT " + fn + "/{name}/configuration", maxDefaultBody, s.updateFunctionConfiguration},
		{"PUT " + fn + "/{name}/code", maxCodeBody, s.updateFunctionCode},
		{"POST " + fn + "/{name}/versions", maxDefaultBody, s.publishVersion},
		{"GET " + fn + "/{name}/versions", maxDefaultBody, s.listVersions},
		{"POST " + fn + "/{name}/aliases", maxDefaultBody, s.createAlias},
		{"GET " + fn + "/{name}/aliases", maxDefaultBody, s.listAliases},
		{"GET " + fn + "/{name}/aliases/{alias}", maxDefaultBody, s.getAlias},
		{"PUT " + fn + "/{name}/aliases/{alias}", maxDefaultBody, s.updateAlias},
		{"DELETE " + fn + "/{name}/aliases/{alias}", maxDefaultBody, s.deleteAlias},
		{"POST " + fn + "/{name}/policy", maxDefaultBody, s.addPermission},
		{"GET " + fn + "/{name}/policy", maxDefaultBody, s.getPolicy},
		{"DELETE " + fn + "/{name}/policy/{sid}", maxDefaultBody, s.removePermission},
		{"POST " + fn + "/{name}/invocations", maxInvokeBody, s.invoke},
		{"POST " + urlPath, maxDefaultBody, s.createFunctionURL},
		{"GET " + urlPath, maxDefaultBody, s.getFunctionURL},
		{"PUT " + urlPath, maxDefaultBody, s.updateFunctionURL},
		{"DELETE " + urlPath, maxDefaultBody, s.deleteFunctionURL},
		{"GET " + urlPath + "s", maxDefaultBody, s.listFunctionURLs},
		{"GET /ember/functions/{name}/logs", maxDefaultBody, s.functionLogs},
		{"PUT /ember/cross-account-aliases/{name}", maxDefaultBody, s.putCrossAlias},
		{"GET /ember/cross-account-aliases/{name}", maxDefaultBody, s.getCrossAlias},
		{"DELETE /ember/cross-account-aliases/{name}", maxDefaultBody, s.deleteCrossAlias},
		{"GET /ember/cross-account-aliases", maxDefaultBody, s.listCrossAliases},
		{"PUT /ember/functions/{name}/security-policy", maxDefaultBody, s.putSecurityPolicy},
		{"GET /ember/functions/{name}/security-policy", maxDefaultBody, s.getSecurityPolicy},
		{"DELETE /ember/functions/{name}/security-policy", maxDefaultBody, s.deleteSecurityPolicy},
		{"GET /ember/functions/{name}/secrets", maxDefaultBody, s.listSecrets},
		{"PUT /ember/functions/{name}/secrets/{secret}", maxDefaultBody, s.putSecret},
		{"DELETE /ember/functions/{name}/secrets/{secret}", maxDefaultBody, s.deleteSecret},
		{"GET /ember/usage", maxDefaultBody, s.usage},
		{"PUT /2019-09-25/functions/{name}/event-invoke-config", maxDefaultBody, s.putEventConfig(false)},
		{"POST /2019-09-25/functions/{name}/event-invoke-config", maxDefaultBody, s.putEventConfig(true)},
		{"GET /2019-09-25/functions/{name}/event-invoke-config", maxDefaultBody, s.getEventConfig},
		{"DELETE /2019-09-25/functions/{name}/event-invoke-config", maxDefaultBody, s.deleteEventConfig},
		{"GET /2019-09-25/functions/{name}/event-invoke-config/list", maxDefaultBody, s.listEventConfigs},
		{"PUT /2019-09-30/functions/{name}/provisioned-concurrency", maxDefaultBody, s.putProvisioned},
		{"GET /2019-09-30/functions/{name}/provisioned-concurrency", maxDefaultBody, s.getProvisioned},
		{"DELETE /2019-09-30/functions/{name}/provisioned-concurrency", maxDefaultBody, s.deleteProvisioned},
		{"PUT /2017-10-31/functions/{name}/concurrency", maxDefaultBody, s.putConcurrency},
		{"GET /2019-09-30/functions/{name}/concurrency", maxDefaultBody, s.getConcurrency},
		{"DELETE /2017-10-31/functions/{name}/concurrency", maxDefaultBody, s.deleteConcurrency},
		{"GET /2016-08-19/account-settings", maxDefaultBody, s.accountSettings},
		{"GET /2016-08-19/account-settings/{$}", maxDefaultBody, s.accountSettings},
		{"POST /2017-03-31/tags/{arn}", maxDefaultBody, s.tagResource},
		{"DELETE /2017-03-31/tags/{arn}", maxDefaultBody, s.untagResource},
		{"GET /2017-03-31/tags/{arn}", maxDefaultBody, s.listTags},
		{"POST /ember/accounts", maxDefaultBody, s.createAccount},
		{"GET /ember/accounts", maxDefaultBody, s.listAccounts},
		{"GET /ember/accounts/{id}", maxDefaultBody, s.getAccount},
		{"DELETE /ember/accounts/{id}", maxDefaultBody, s.deleteAccount},
		{"POST /ember/accounts/{id}/keys", maxDefaultBody, s.createKey},
		{"GET /ember/accounts/{id}/keys", maxDefaultBody, s.listKeys},
		{"DELETE /ember/accounts/{id}/keys/{akid}", maxDefaultBody, s.deleteKey},
		{"GET /ember/whoami", maxDefaultBody, s.whoami},
	}
}

// functionOnly is function for operations on the function as a whole,
// which refuse a qualified name rather than silently ignore it.
func (s *Server) functionOnly(ctx context.Context, c *call, action string, mutate bool) (target, error) {
	t, err := s.function(ctx, c, action, mutate)
	if err == nil && t.qualifier != "" {
		return target{}, fmt.Errorf("%w: %s applies to the function, not to a version or alias; remove the qualifier %q.", errBadParameter, strings.TrimPrefix(action, "lambda:"), t.qualifier)
	}
	return t, err
}

// target is a function named in a request, after authorization.
type target struct {
	fn        *catalog.Function
	qualifier string
	owner     bool
}

// ref parses the {name} path value and the Qualifier query parameter.
func (s *Server) ref(c *call) (arn.FunctionRef, error) {
	ref, err := arn.ParseFunctionName(c.r.PathValue("name"))
	if err != nil {
		return ref, fmt.Errorf("%w: %s", errBadParameter, errText(err, arn.ErrInvalid))
	}
	if q := c.r.URL.Query().Get("Qualifier"); q != "" {
		if !arn.ValidQualifier(q) {
			return ref, fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)", errBadParameter, q)
		}
		if ref.Qualifier != "" && ref.Qualifier != q {
			return ref, fmt.Errorf("%w: The derived qualifier from the function name does not match the specified qualifier.", errBadParameter)
		}
		ref.Qualifier = q
	}
	if ref.Account == "" {
		ref.Account = c.caller.ID
	}
	return ref, nil
}

func errText(err, sentinel error) string {
	msg := err.Error()
	if p := sentinel.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// function loads the named function and checks that the caller may perform
// action on it. Other accounts' functions are invisible unless a policy
// names the caller; mutations are owner-only.
func (s *Server) function(ctx context.Context, c *call, action string, mutate bool) (target, error) {
	return s.functionAt(ctx, c, action, mutate, "")
}

// functionAt is function with the authorization checked against a named
// qualifier (e.g. the alias of GetAlias) instead of the request's.
func (s *Server) functionAt(ctx context.Context, c *call, action string, mutate bool, authQualifier string) (target, error) {
	ref, err := s.ref(c)
	if err != nil {
		return target{}, err
	}
	authQ := ref.Qualifier
	if authQualifier != "" {
		authQ = authQualifier
	}
	f, err := s.cat.Get(ctx, ref.Account, ref.Name)
	if err != nil {
		return target{}, err
	}
	t := target{fn: f, qualifier: ref.Qualifier, owner: f.Account == c.caller.ID}
	if t.owner {
		return t, nil
	}
	if !f.Visible(c.caller.ID) {
		return target{}, fmt.Errorf("%w: Function not found: %s", catalog.ErrNotFound, s.cat.ARN(ref.Account, ref.Name, ref.Qualifier))
	}
	if mutate || !(f.Allows(c.caller.ID, authQ, action) || authQualifier != "" && f.Allows(c.caller.ID, "", action)) {
		return target{}, fmt.Errorf("%w: User: arn:aws:iam::%s:root is not authorized to perform: %s on resource: %s because no resource-based policy allows the %s action",
			errDenied, c.caller.ID, action, s.cat.ARN(ref.Account, ref.Name, authQ), action)
	}
	return t, nil
}

type createFunctionRequest struct {
	FunctionName string
	Runtime      string
	Role         string
	Handler      string
	Description  string
	Timeout      *int
	MemorySize   *int
	Publish      bool
	PackageType  string
	Code         struct {
		ZipFile  []byte
		S3Bucket string
		ImageUri string
	}
	Environment       *environment
	TracingConfig     *struct{ Mode string }
	Tags              map[string]string
	Architectures     []string
	EphemeralStorage  *struct{ Size int }
	Layers            []string
	VpcConfig         *struct{ SubnetIds, SecurityGroupIds []string }
	DeadLetterConfig  *struct{ TargetArn string }
	KMSKeyArn         string
	FileSystemConfigs []any
}

func checkIntParam(name string, v *int) error {
	if v != nil && *v <= 0 {
		return fmt.Errorf("%w: 1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to 1", errBadParameter, *v, name)
	}
	return nil
}

func unsupported(req createFunctionRequest) error {
	switch {
	case req.PackageType != "" && req.PackageType != "Zip":
		return fmt.Errorf("%w: PackageType %s is not supported by ember; use Zip.", errBadParameter, req.PackageType)
	case req.Code.S3Bucket != "" || req.Code.ImageUri != "":
		return fmt.Errorf("%w: ember accepts code only as Code.ZipFile (S3 locations and container images are not supported).", errBadParameter)
	case len(req.Layers) > 0:
		return fmt.Errorf("%w: Layers are not supported by ember yet.", errBadParameter)
	case req.VpcConfig != nil && (len(req.VpcConfig.SubnetIds) > 0 || len(req.VpcConfig.SecurityGroupIds) > 0):
		return fmt.Errorf("%w: VpcConfig is not supported by ember; use a security policy's network allow-list.", errBadParameter)
	case len(req.FileSystemConfigs) > 0:
		return fmt.Errorf("%w: FileSystemConfigs are not supported by ember.", errBadParameter)
	}
	return nil
}

func (s *Server) createFunction(ctx context.Context, c *call) (int, any, error) {
	var req createFunctionRequest
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	if err := unsupported(req); err != nil {
		return 0, nil, err
	}
	for name, v := range map[string]*int{"timeout": req.Timeout, "memorySize": req.MemorySize} {
		if err := checkIntParam(name, v); err != nil {
			return 0, nil, err
		}
	}
	if req.FunctionName == "" {
		return 0, nil, fmt.Errorf("%w: FunctionName is required.", errBadParameter)
	}
	// CreateFunction accepts a name or an ARN of the caller's own account.
	ref, err := arn.ParseFunctionName(req.FunctionName)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s", errBadParameter, errText(err, arn.ErrInvalid))
	}
	if ref.Qualifier != "" || (ref.Account != "" && ref.Account != c.caller.ID) {
		return 0, nil, fmt.Errorf("%w: FunctionName must be an unqualified name or ARN in your own account.", errBadParameter)
	}
	cfg := catalog.Config{
		Runtime: req.Runtime, Role: req.Role, Handler: req.Handler, Description: req.Description,
		Architectures: req.Architectures, KMSKeyArn: req.KMSKeyArn,
	}
	set(&cfg.Timeout, req.Timeout)
	set(&cfg.MemorySize, req.MemorySize)
	if req.Environment != nil {
		cfg.Environment = req.Environment.Variables
	}
	if req.TracingConfig != nil {
		cfg.TracingMode = req.TracingConfig.Mode
	}
	if req.EphemeralStorage != nil {
		cfg.EphemeralStorage = req.EphemeralStorage.Size
		if cfg.EphemeralStorage == 0 {
			cfg.EphemeralStorage = -1
		}
	}
	if req.DeadLetterConfig != nil {
		cfg.DeadLetterTarget = req.DeadLetterConfig.TargetArn
	}
	f, out, err := s.cat.Create(ctx, c.caller.ID, catalog.CreateInput{
		Name: ref.Name, Config: cfg, Zip: req.Code.ZipFile, Publish: req.Publish, Tags: req.Tags,
	})
	if err != nil {
		return 0, nil, err
	}
	q := ""
	if out.Version != catalog.Latest {
		q = out.Version
	}
	return 201, s.render(f.Account, f.Name, out, q, true), nil
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func (s *Server) getFunction(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:GetFunction", false)
	if errors.Is(err, catalog.ErrNotFound) {
		err = s.crossAliasOpaque(ctx, c, err)
	}
	if err != nil {
		return 0, nil, err
	}
	cfg, err := s.cat.Resolve(ctx, t.fn, t.qualifier)
	if err != nil {
		return 0, nil, err
	}
	out := map[string]any{
		"Configuration": s.render(t.fn.Account, t.fn.Name, cfg, t.qualifier, t.owner),
	}
	code := map[string]string{"RepositoryType": "S3"}
	if t.owner {
		code["Location"] = s.codeURL(c, t.fn.Account, cfg.CodeObject)
	}
	out["Code"] = code
	if t.owner || t.fn.Allows(c.caller.ID, "", "lambda:ListTags") {
		tags := t.fn.Tags
		if tags == nil {
			tags = map[string]string{}
		}
		out["Tags"] = tags
	}
	if t.fn.Reserved != nil {
		out["Concurrency"] = map[string]int{"ReservedConcurrentExecutions": *t.fn.Reserved}
	}
	return 200, out, nil
}

func (s *Server) getFunctionConfiguration(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:GetFunctionConfiguration", false)
	if errors.Is(err, catalog.ErrNotFound) {
		err = s.crossAliasOpaque(ctx, c, err)
	}
	if err != nil {
		return 0, nil, err
	}
	cfg, err := s.cat.Resolve(ctx, t.fn, t.qualifier)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.render(t.fn.Account, t.fn.Name, cfg, t.qualifier, t.owner), nil
}

type updateConfigurationRequest struct {
	Runtime, Role, Handler, Description *string
	Timeout, MemorySize                 *int
	Environment                         *environment
	TracingConfig                       *struct{ Mode string }
	EphemeralStorage                    *struct{ Size int }
	DeadLetterConfig                    *struct{ TargetArn string }
	KMSKeyArn                           *string
	RevisionId                          string
	Layers                              []string
	VpcConfig                           *struct{ SubnetIds, SecurityGroupIds []string }
	FileSystemConfigs                   []any
}

func (s *Server) updateFunctionConfiguration(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:UpdateFunctionConfiguration", true)
	if err != nil {
		return 0, nil, err
	}
	var req updateConfigurationRequest
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	if err := unsupported(createFunctionRequest{Layers: req.Layers, VpcConfig: req.VpcConfig, FileSystemConfigs: req.FileSystemConfigs}); err != nil {
		return 0, nil, err
	}
	for name, v := range map[string]*int{"timeout": req.Timeout, "memorySize": req.MemorySize} {
		if err := checkIntParam(name, v); err != nil {
			return 0, nil, err
		}
	}
	p := catalog.ConfigPatch{
		Runtime: req.Runtime, Role: req.Role, Handler: req.Handler, Description: req.Description,
		Timeout: req.Timeout, MemorySize: req.MemorySize, KMSKeyArn: req.KMSKeyArn, RevisionID: req.RevisionId,
	}
	if req.Environment != nil {
		vars := req.Environment.Variables
		if vars == nil {
			vars = map[string]string{}
		}
		p.Environment = &vars
	}
	if req.TracingConfig != nil {
		p.TracingMode = &req.TracingConfig.Mode
	}
	if req.EphemeralStorage != nil {
		size := req.EphemeralStorage.Size
		if size == 0 {
			size = -1
		}
		p.EphemeralStorage = &size
	}
	if req.DeadLetterConfig != nil {
		p.DeadLetterTarget = &req.DeadLetterConfig.TargetArn
	}
	f, err := s.cat.UpdateConfig(ctx, t.fn.Account, t.fn.Name, p)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.render(f.Account, f.Name, f.Latest, "", true), nil
}

type updateCodeRequest struct {
	ZipFile       []byte
	S3Bucket      string
	ImageUri      string
	Publish       bool
	DryRun        bool
	RevisionId    string
	Architectures []string
}

func (s *Server) updateFunctionCode(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:UpdateFunctionCode", true)
	if err != nil {
		return 0, nil, err
	}
	var req updateCodeRequest
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	if req.S3Bucket != "" || req.ImageUri != "" {
		return 0, nil, fmt.Errorf("%w: ember accepts code only as ZipFile (S3 locations and container images are not supported).", errBadParameter)
	}
	f, out, err := s.cat.UpdateCode(ctx, t.fn.Account, t.fn.Name, catalog.CodeInput{
		Zip: req.ZipFile, Publish: req.Publish, DryRun: req.DryRun, RevisionID: req.RevisionId, Architectures: req.Architectures,
	})
	if err != nil {
		return 0, nil, err
	}
	q := ""
	if out.Version != catalog.Latest {
		q = out.Version
	}
	return 200, s.render(f.Account, f.Name, out, q, true), nil
}

func (s *Server) deleteFunction(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:DeleteFunction", true)
	if err != nil {
		return 0, nil, err
	}
	if err := s.cat.Delete(ctx, t.fn.Account, t.fn.Name, t.qualifier); err != nil {
		return 0, nil, err
	}
	if t.qualifier == "" {
		s.deleteFunctionData(ctx, t.fn.Account, t.fn.Name)
	}
	return 204, nil, nil
}

// page applies Marker/MaxItems to n items whose keys are given by key(i).
// Markers are opaque to clients: the key of the last item returned.
func page(q url.Values, n int, key func(i int) string, def int) (start, end int, next string, err error) {
	max := def
	if v := q.Get("MaxItems"); v != "" {
		max, err = strconv.Atoi(v)
		if err != nil || max < 1 || max > 10000 {
			return 0, 0, "", fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000", errBadParameter, v)
		}
	}
	if m := q.Get("Marker"); m != "" {
		last, derr := decodeMarker(m)
		if derr != nil {
			return 0, 0, "", fmt.Errorf("%w: Invalid Marker %q", errBadParameter, m)
		}
		for start < n && key(start) <= last {
			start++
		}
	}
	end = min(n, start+max)
	if end < n {
		next = encodeMarker(key(end - 1))
	}
	return start, end, next, nil
}

func (s *Server) listFunctions(ctx context.Context, c *call) (int, any, error) {
	q := c.r.URL.Query()
	all := q.Get("FunctionVersion") == "ALL"
	if v := q.Get("FunctionVersion"); v != "" && !all {
		return 0, nil, fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]", errBadParameter, v)
	}
	fns, err := s.cat.List(ctx, c.caller.ID)
	if err != nil {
		return 0, nil, err
	}
	type item struct {
		key string
		fn  *catalog.Function
		cfg catalog.Config
	}
	var items []item
	for _, f := range fns {
		if !all {
			items = append(items, item{f.Name, f, f.Latest})
			continue
		}
		vs, err := s.cat.ListVersions(ctx, f)
		if err != nil {
			return 0, nil, err
		}
		for i, v := range vs {
			items = append(items, item{fmt.Sprintf("%s\x00%010d", f.Name, i), f, v})
		}
	}
	start, end, next, err := page(q, len(items), func(i int) string { return items[i].key }, 50)
	if err != nil {
		return 0, nil, err
	}
	out := make([]functionConfiguration, 0, end-start)
	for _, it := range items[start:end] {
		qual := ""
		if all {
			qual = it.cfg.Version
		}
		out = append(out, s.render(it.fn.Account, it.fn.Name, it.cfg, qual, true))
	}
	resp := map[string]any{"Functions": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	return 200, resp, nil
}

func (s *Server) listVersions(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:ListVersionsByFunction", false)
	if err != nil {
		return 0, nil, err
	}
	vs, err := s.cat.ListVersions(ctx, t.fn)
	if err != nil {
		return 0, nil, err
	}
	start, end, next, err := page(c.r.URL.Query(), len(vs), func(i int) string { return fmt.Sprintf("%010d", i) }, 50)
	if err != nil {
		return 0, nil, err
	}
	out := make([]functionConfiguration, 0, end-start)
	for _, v := range vs[start:end] {
		out = append(out, s.render(t.fn.Account, t.fn.Name, v, v.Version, t.owner))
	}
	resp := map[string]any{"Versions": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	return 200, resp, nil
}

type publishRequest struct {
	CodeSha256, Description, RevisionId string
}

func (s *Server) publishVersion(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:PublishVersion", true)
	if err != nil {
		return 0, nil, err
	}
	var req publishRequest
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	v, err := s.cat.Publish(ctx, t.fn.Account, t.fn.Name, catalog.PublishInput{CodeSha256: req.CodeSha256, Description: req.Description, RevisionID: req.RevisionId})
	if err != nil {
		return 0, nil, err
	}
	return 201, s.render(t.fn.Account, t.fn.Name, v, v.Version, true), nil
}

func (s *Server) putConcurrency(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:PutFunctionConcurrency", true)
	if err != nil {
		return 0, nil, err
	}
	var req struct{ ReservedConcurrentExecutions *int }
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	if req.ReservedConcurrentExecutions == nil {
		return 0, nil, fmt.Errorf("%w: ReservedConcurrentExecutions is required.", errBadParameter)
	}
	f, err := s.cat.PutConcurrency(ctx, t.fn.Account, t.fn.Name, req.ReservedConcurrentExecutions)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]int{"ReservedConcurrentExecutions": *f.Reserved}, nil
}

func (s *Server) getConcurrency(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:GetFunctionConcurrency", false)
	if err != nil {
		return 0, nil, err
	}
	if t.fn.Reserved == nil {
		return 200, map[string]int{}, nil
	}
	return 200, map[string]int{"ReservedConcurrentExecutions": *t.fn.Reserved}, nil
}

func (s *Server) deleteConcurrency(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:DeleteFunctionConcurrency", true)
	if err != nil {
		return 0, nil, err
	}
	if _, err := s.cat.PutConcurrency(ctx, t.fn.Account, t.fn.Name, nil); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (s *Server) accountSettings(ctx context.Context, c *call) (int, any, error) {
	u, err := s.cat.AccountUsage(ctx, c.caller.ID)
	if err != nil {
		return 0, nil, err
	}
	opts := s.cat.Settings()
	return 200, map[string]any{
		"AccountLimit": map[string]int64{
			"TotalCodeSize":                  75 << 30,
			"CodeSizeUnzipped":               opts.Bundle.MaxUnzipped,
			"CodeSizeZipped":                 opts.Bundle.MaxZipped,
			"ConcurrentExecutions":           int64(opts.AccountConcurrency),
			"UnreservedConcurrentExecutions": int64(opts.AccountConcurrency - u.Reserved),
		},
		"AccountUsage": map[string]int64{"TotalCodeSize": u.TotalCodeSize, "FunctionCount": u.FunctionCount},
	}, nil
}

// codeURL makes a short-lived download link for a bundle, signed by the
// server. It is only ever handed to the function's owner.
func (s *Server) codeURL(c *call, account, object string) string {
	expires := strconv.FormatInt(s.now().Add(codeURLTTL).Unix(), 10)
	sum := hexOf(object)
	mac := s.ring.MAC("code", account, sum, expires)
	base := s.public
	if base == "" {
		scheme := "http"
		if c.r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + c.r.Host
	}
	return fmt.Sprintf("%s/ember/code/%s/%s?Expires=%s&Signature=%x", base, account, sum, expires, mac)
}

const codeURLTTL = 10 * time.Minute

func notFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{catalog.ErrNotFound}, args...)...)
}
