package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ember-run/ember/internal/arn"
)

// Policy is the resource policy of one qualifier of a function.
type Policy struct {
	RevisionID string
	Statements []Statement
}

// Statement is one grant, kept in the shape GetPolicy returns.
type Statement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal any                          `json:"Principal"`
	Action    string                       `json:"Action"`
	Resource  string                       `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// PermissionInput is an AddPermission request.
type PermissionInput struct {
	Qualifier           string
	StatementID         string
	Action              string
	Principal           string
	SourceArn           string
	SourceAccount       string
	PrincipalOrgID      string
	FunctionURLAuthType string
	EventSourceToken    string
	RevisionID          string
}

// Actions a resource policy may grant. Mutating actions are never granted
// across accounts in ember, so they are not accepted here.
var grantableActions = []string{
	"lambda:*", "lambda:InvokeFunction", "lambda:InvokeFunctionUrl", "lambda:InvokeAsync",
	"lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:ListVersionsByFunction",
	"lambda:ListAliases", "lambda:GetAlias", "lambda:GetPolicy", "lambda:GetFunctionConcurrency",
	"lambda:ListTags", "ember:CreateCrossAccountAlias",
}

var (
	sidRE       = regexp.MustCompile(`^[a-zA-Z0-9-_.]{1,100}$`)
	serviceRE   = regexp.MustCompile(`^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$`)
	principalRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):(root|user/.+|role/.+)$`)
)

// MaxPolicySize bounds one qualifier's policy document, as Lambda does (20 KB).
const MaxPolicySize = 20 * 1024

func qualifierKey(q string) string {
	if q == Latest {
		return ""
	}
	return q
}

func (c *Catalog) checkQualifierExists(f *Function, q string) error {
	switch {
	case q == "" || q == Latest:
		return nil
	case arn.IsVersion(q):
		for _, v := range f.Versions {
			if fmt.Sprint(v) == q {
				return nil
			}
		}
	default:
		if _, ok := f.Aliases[q]; ok {
			return nil
		}
	}
	return c.notFound(f.Account, f.Name, q)
}

func principalValue(p string) (any, error) {
	switch {
	case p == "*":
		return "*", nil
	case arn.ValidAccountID(p):
		return map[string]string{"AWS": "arn:aws:iam::" + p + ":root"}, nil
	case principalRE.MatchString(p):
		return map[string]string{"AWS": p}, nil
	case serviceRE.MatchString(p):
		return map[string]string{"Service": p}, nil
	}
	return nil, invalidf("The provided principal was invalid. Please check the principal and try again: %s", p)
}

// AddPermission adds a statement to the policy of a function or qualifier.
func (c *Catalog) AddPermission(ctx context.Context, account, name string, in PermissionInput) (Statement, error) {
	if !sidRE.MatchString(in.StatementID) {
		return Statement{}, invalidf("1 validation error detected: Value '%s' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)", in.StatementID)
	}
	if !slices.Contains(grantableActions, in.Action) {
		return Statement{}, invalidf("The action %q is not supported in ember resource policies. Supported: %s.", in.Action, strings.Join(grantableActions, ", "))
	}
	principal, err := principalValue(in.Principal)
	if err != nil {
		return Statement{}, err
	}
	st := Statement{Sid: in.StatementID, Effect: "Allow", Principal: principal, Action: in.Action,
		Resource: c.ARN(account, name, qualifierKey(in.Qualifier))}
	cond := map[string]map[string]string{}
	add := func(op, k, v string) {
		if v == "" {
			return
		}
		if cond[op] == nil {
			cond[op] = map[string]string{}
		}
		cond[op][k] = v
	}
	add("ArnLike", "AWS:SourceArn", in.SourceArn)
	add("StringEquals", "AWS:SourceAccount", in.SourceAccount)
	add("StringEquals", "aws:PrincipalOrgID", in.PrincipalOrgID)
	add("StringEquals", "lambda:FunctionUrlAuthType", in.FunctionURLAuthType)
	add("StringEquals", "lambda:EventSourceToken", in.EventSourceToken)
	if len(cond) > 0 {
		st.Condition = cond
	}
	_, err = c.mutate(ctx, account, name, func(f *Function) error {
		if err := c.checkQualifierExists(f, in.Qualifier); err != nil {
			return err
		}
		q := qualifierKey(in.Qualifier)
		p := f.Policies[q]
		if p == nil {
			p = &Policy{RevisionID: c.qualifierRevision(f, q)}
		}
		if err := checkRevision(in.RevisionID, p.RevisionID); err != nil {
			return err
		}
		for _, s := range p.Statements {
			if s.Sid == in.StatementID {
				return fmt.Errorf("%w: The statement id (%s) provided already exists. Please provide a new statement id, or remove the existing statement.", ErrExists, in.StatementID)
			}
		}
		np := &Policy{RevisionID: newRevision(), Statements: append(slices.Clone(p.Statements), st)}
		if len(np.Document(f.Account)) > MaxPolicySize {
			return fmt.Errorf("%w: The final policy size (%d) is bigger than the limit (%d).", ErrPolicyLength, len(np.Document(f.Account)), MaxPolicySize)
		}
		if f.Policies == nil {
			f.Policies = map[string]*Policy{}
		}
		f.Policies[q] = np
		return nil
	})
	return st, err
}

func (c *Catalog) qualifierRevision(f *Function, q string) string {
	if a, ok := f.Aliases[q]; ok {
		return a.RevisionID
	}
	if q == "" {
		return f.Latest.RevisionID
	}
	return ""
}

// RemovePermission deletes a statement.
func (c *Catalog) RemovePermission(ctx context.Context, account, name, qualifier, sid, revision string) error {
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if err := c.checkQualifierExists(f, qualifier); err != nil {
			return err
		}
		q := qualifierKey(qualifier)
		p := f.Policies[q]
		if p == nil {
			return fmt.Errorf("%w: No policy is associated with the given resource.", ErrNotFound)
		}
		if err := checkRevision(revision, p.RevisionID); err != nil {
			return err
		}
		i := slices.IndexFunc(p.Statements, func(s Statement) bool { return s.Sid == sid })
		if i < 0 {
			return fmt.Errorf("%w: Statement %s is not found in resource policy.", ErrNotFound, sid)
		}
		np := &Policy{RevisionID: newRevision(), Statements: slices.Delete(slices.Clone(p.Statements), i, i+1)}
		if len(np.Statements) == 0 {
			delete(f.Policies, q)
		} else {
			f.Policies[q] = np
		}
		return nil
	})
	return err
}

// Policy returns the policy of a qualifier, or ErrNotFound when it has none.
func (c *Catalog) Policy(f *Function, qualifier string) (*Policy, error) {
	if err := c.checkQualifierExists(f, qualifier); err != nil {
		return nil, err
	}
	p := f.Policies[qualifierKey(qualifier)]
	if p == nil || len(p.Statements) == 0 {
		return nil, fmt.Errorf("%w: The resource you requested does not exist.", ErrNotFound)
	}
	return p, nil
}

// Document renders the policy as the JSON string GetPolicy returns.
func (p *Policy) Document(account string) string {
	b, _ := json.Marshal(struct {
		Version   string      `json:"Version"`
		ID        string      `json:"Id"`
		Statement []Statement `json:"Statement"`
	}{"2012-10-17", "default", p.Statements})
	return string(b)
}

// Allows reports whether the policy of qualifier lets caller perform action.
// Statements with conditions ember cannot evaluate for a direct call
// (source ARN, source account, organisation) do not match, so a grant made
// for a service never opens the function to an account.
func (f *Function) Allows(caller, qualifier, action string) bool {
	if caller == f.Account {
		return true
	}
	p := f.Policies[qualifierKey(qualifier)]
	if p == nil {
		return false
	}
	for _, s := range p.Statements {
		if s.Effect != "Allow" || !actionMatches(s.Action, action) || !principalMatches(s.Principal, caller) {
			continue
		}
		ok := true
		for op, kv := range s.Condition {
			for k := range kv {
				if !(op == "StringEquals" && k == "lambda:FunctionUrlAuthType" && action == "lambda:InvokeFunctionUrl") {
					ok = false
				}
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Visible reports whether caller has any grant on the function at all, which
// decides between "not found" and "access denied" for callers without the
// specific permission.
func (f *Function) Visible(caller string) bool {
	if caller == f.Account {
		return true
	}
	for _, p := range f.Policies {
		for _, s := range p.Statements {
			if s.Effect == "Allow" && principalMatches(s.Principal, caller) {
				return true
			}
		}
	}
	return false
}

func actionMatches(granted, wanted string) bool {
	switch {
	case granted == wanted, granted == "lambda:*" && strings.HasPrefix(wanted, "lambda:"):
		return true
	case granted == "lambda:GetFunction" && wanted == "lambda:GetFunctionConfiguration":
		return true
	}
	return false
}

func principalMatches(p any, caller string) bool {
	switch v := p.(type) {
	case string:
		return v == "*"
	case map[string]any:
		s, _ := v["AWS"].(string)
		return principalAccount(s) == caller
	case map[string]string:
		return principalAccount(v["AWS"]) == caller
	}
	return false
}

func principalAccount(s string) string {
	if m := principalRE.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}
