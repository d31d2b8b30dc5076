package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ember-run/ember/internal/account"
	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/pubapi"
)

// Published APIs: the control API under /ember/apis. The calls themselves
// are served by callAPI, in gateway.go.

func (s *Server) apiRoutes() []route {
	const p = "/ember/apis"
	return []route{
		{"POST " + p, maxDefaultBody, s.createAPI},
		{"GET " + p, maxDefaultBody, s.listAPIs},
		{"GET " + p + "/subscriptions", maxDefaultBody, s.listSubscriptions},
		{"GET " + p + "/{api}", maxDefaultBody, s.getAPI},
		{"PUT " + p + "/{api}", maxDefaultBody, s.updateAPI},
		{"DELETE " + p + "/{api}", maxDefaultBody, s.deleteAPI},
		{"PUT " + p + "/{api}/routes", maxDefaultBody, s.putRoute},
		{"DELETE " + p + "/{api}/routes", maxDefaultBody, s.deleteRoute},
		{"PUT " + p + "/{api}/visibility", maxDefaultBody, s.setVisibility},
		{"GET " + p + "/{api}/stages", maxDefaultBody, s.listStages},
		{"POST " + p + "/{api}/stages/{stage}", maxDefaultBody, s.deployStage},
		{"DELETE " + p + "/{api}/stages/{stage}", maxDefaultBody, s.deleteStage},
		{"POST " + p + "/{api}/subscription", maxDefaultBody, s.subscribe},
		{"GET " + p + "/{api}/subscription", maxDefaultBody, s.getSubscription},
		{"DELETE " + p + "/{api}/subscription", maxDefaultBody, s.unsubscribe},
		{"POST " + p + "/{api}/subscription/key", maxDefaultBody, s.rotateKey},
		{"GET " + p + "/{api}/subscribers", maxDefaultBody, s.listSubscribers},
		{"PUT " + p + "/{api}/subscribers/{account}/plan", maxDefaultBody, s.setPlan},
		{"DELETE " + p + "/{api}/subscribers/{account}/plan", maxDefaultBody, s.resetPlan},
		{"DELETE " + p + "/{api}/subscribers/{account}", maxDefaultBody, s.revokeSubscriber},
	}
}

// ---- wire shapes ----

type planIO struct {
	RateLimit  float64
	Burst      int
	DailyQuota int64
}

func (p planIO) plan() pubapi.Plan {
	return pubapi.Plan{RateLimit: p.RateLimit, Burst: p.Burst, DailyQuota: p.DailyQuota}
}

func planOf(p pubapi.Plan) planIO {
	return planIO{RateLimit: p.RateLimit, Burst: p.Burst, DailyQuota: p.DailyQuota}
}

type routeOut struct {
	RouteKey       string
	Target         string `json:",omitempty"`
	TimeoutSeconds int    `json:",omitempty"`
}

type stageOut struct {
	StageName    string
	Description  string `json:",omitempty"`
	DeploymentId string
	DeployedDate string
	InvokeUrl    string
	Routes       []routeOut
}

type apiOut struct {
	ApiId        string
	Name         string
	Description  string `json:",omitempty"`
	Owner        string
	Endpoint     string
	Visibility   string
	Accounts     []string   `json:",omitempty"`
	DefaultPlan  planIO     // what a new subscription gets
	Routes       []routeOut `json:",omitempty"` // the draft; owner only
	Stages       []stageOut
	Subscribed   bool `json:",omitempty"`
	CreatedDate  string
	LastModified string `json:",omitempty"`
}

type subscriptionOut struct {
	ApiId       string
	ApiName     string `json:",omitempty"`
	Owner       string `json:",omitempty"`
	Account     string
	Key         string `json:",omitempty"` // only when created or rotated: it is not kept
	KeyPrefix   string
	Plan        planIO
	CustomPlan  bool `json:",omitempty"`
	CallsToday  int64
	Endpoint    string `json:",omitempty"`
	Stages      []string
	CreatedDate string
}

type subscriberOut struct {
	Account     string
	Plan        planIO
	CustomPlan  bool `json:",omitempty"`
	CallsToday  int64
	CreatedDate string
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// baseURL is the scheme and host clients reach this server at.
func (s *Server) baseURL(r *http.Request) string {
	if s.public != "" {
		return s.public
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) renderAPI(ctx context.Context, c *call, a *pubapi.API) apiOut {
	owner := a.Owner == c.caller.ID
	endpoint := s.baseURL(c.r) + "/apis/" + a.ID
	out := apiOut{
		ApiId: a.ID, Name: a.Name, Description: a.Description, Owner: a.Owner, Endpoint: endpoint,
		Visibility: a.Visibility.Mode, DefaultPlan: planOf(a.DefaultPlan), Stages: []stageOut{},
		CreatedDate: rfc3339(a.Created),
	}
	if owner {
		out.Accounts = a.Visibility.Accounts
		out.Routes = routesOut(a.Routes, true)
		out.LastModified = rfc3339(a.Modified)
	}
	stages, _ := s.apis.Stages(ctx, c.caller.ID, a.ID)
	for _, st := range stages {
		out.Stages = append(out.Stages, stageOut{
			StageName: st.Name, Description: st.Description, DeploymentId: st.DeploymentID,
			DeployedDate: rfc3339(st.Deployed), InvokeUrl: endpoint + "/" + st.Name,
			Routes: routesOut(st.Routes, owner),
		})
	}
	if _, ok := s.apis.Subscription(a.ID, c.caller.ID); ok {
		out.Subscribed = true
	}
	return out
}

// routesOut renders routes; only the owner sees what they run.
func routesOut(rs []pubapi.Route, targets bool) []routeOut {
	out := make([]routeOut, 0, len(rs))
	for _, r := range rs {
		ro := routeOut{RouteKey: r.Key}
		if targets {
			ro.Target, ro.TimeoutSeconds = r.Target, r.Timeout
		}
		out = append(out, ro)
	}
	return out
}

func (s *Server) renderSubscription(ctx context.Context, c *call, sub *pubapi.Subscription, key string) subscriptionOut {
	out := subscriptionOut{ApiId: sub.API, Account: sub.Account, Key: key, KeyPrefix: sub.KeyPrefix,
		CustomPlan: sub.Plan != nil, Stages: []string{}, CreatedDate: rfc3339(sub.Created)}
	if sub.Plan != nil {
		out.Plan = planOf(*sub.Plan)
	}
	if a, ok := s.apis.API(sub.API); ok {
		out.ApiName, out.Owner, out.Plan = a.Name, a.Owner, planOf(sub.Effective(a))
		out.Endpoint = s.baseURL(c.r) + "/apis/" + a.ID
		if stages, err := s.apis.Stages(ctx, c.caller.ID, a.ID); err == nil {
			for _, st := range stages {
				out.Stages = append(out.Stages, st.Name)
			}
		}
	}
	if n, err := s.apis.CallsToday(ctx, sub.API, sub.Account); err == nil {
		out.CallsToday = n
	}
	return out
}

// ---- helpers ----

func (s *Server) requireAPIs() error {
	if s.apis == nil {
		return fmt.Errorf("%w: published APIs are not available on this server", errUnknownRoute)
	}
	return nil
}

// apiIn is the body of create and update; absent fields are left alone.
type apiIn struct {
	Name        *string
	Description *string
	Visibility  *string
	Accounts    []string
	DefaultPlan *planIO
}

func (s *Server) visibility(ctx context.Context, mode *string, accounts []string) (*pubapi.Visibility, error) {
	if mode == nil {
		if len(accounts) > 0 {
			return nil, fmt.Errorf("%w: Accounts: give Visibility %q with the accounts", pubapi.ErrInvalid, pubapi.Accounts)
		}
		return nil, nil
	}
	for _, id := range accounts {
		if _, err := s.accts.Get(ctx, id); errors.Is(err, account.ErrNotFound) {
			return nil, fmt.Errorf("%w: Accounts: account %s does not exist", pubapi.ErrInvalid, id)
		}
	}
	return &pubapi.Visibility{Mode: *mode, Accounts: accounts}, nil
}

// createAPI is POST /ember/apis {Name, Description, Visibility, Accounts, DefaultPlan}.
func (s *Server) createAPI(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	var in apiIn
	if err := decode(c.body, &in); err != nil {
		return 0, nil, err
	}
	if in.Name == nil {
		return 0, nil, fmt.Errorf("%w: Name is required", pubapi.ErrInvalid)
	}
	vis, err := s.visibility(ctx, in.Visibility, in.Accounts)
	if err != nil {
		return 0, nil, err
	}
	ci := pubapi.CreateInput{Name: *in.Name, Visibility: vis}
	if in.Description != nil {
		ci.Description = *in.Description
	}
	if in.DefaultPlan != nil {
		p := in.DefaultPlan.plan()
		ci.DefaultPlan = &p
	}
	a, err := s.apis.Create(ctx, c.caller.ID, ci)
	if err != nil {
		return 0, nil, err
	}
	return 201, s.renderAPI(ctx, c, a), nil
}

// listAPIs is GET /ember/apis: the caller's APIs, or with ?shared=true
// the other accounts' APIs it may subscribe to.
func (s *Server) listAPIs(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	list := s.apis.Owned(ctx, c.caller.ID)
	switch c.r.URL.Query().Get("shared") {
	case "", "false":
	case "true":
		list = s.apis.Shared(ctx, c.caller.ID)
	default:
		return 0, nil, fmt.Errorf("%w: shared must be true or false", errBadParameter)
	}
	out := make([]apiOut, 0, len(list))
	for _, a := range list {
		out = append(out, s.renderAPI(ctx, c, a))
	}
	return 200, map[string]any{"Apis": out}, nil
}

// getAPI is GET /ember/apis/{api}: the owner sees everything; an account
// the API is shared with sees its stages' route keys and its plan.
func (s *Server) getAPI(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	a, err := s.apis.Get(ctx, c.caller.ID, c.r.PathValue("api"))
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderAPI(ctx, c, a), nil
}

// updateAPI is PUT /ember/apis/{api}: name, description, visibility,
// default plan; absent fields stay.
func (s *Server) updateAPI(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	var in apiIn
	if err := decode(c.body, &in); err != nil {
		return 0, nil, err
	}
	vis, err := s.visibility(ctx, in.Visibility, in.Accounts)
	if err != nil {
		return 0, nil, err
	}
	ui := pubapi.UpdateInput{Name: in.Name, Description: in.Description, Visibility: vis}
	if in.DefaultPlan != nil {
		p := in.DefaultPlan.plan()
		ui.DefaultPlan = &p
	}
	a, err := s.apis.Update(ctx, c.caller.ID, c.r.PathValue("api"), ui)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderAPI(ctx, c, a), nil
}

// deleteAPI is DELETE /ember/apis/{api}: stages, subscriptions and keys go too.
func (s *Server) deleteAPI(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	if err := s.apis.Delete(ctx, c.caller.ID, c.r.PathValue("api")); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

// ownAPI loads the caller's API or refuses.
func (s *Server) ownAPI(ctx context.Context, c *call, what string) (*pubapi.API, error) {
	a, err := s.apis.Get(ctx, c.caller.ID, c.r.PathValue("api"))
	if err != nil {
		return nil, err
	}
	if a.Owner != c.caller.ID {
		return nil, fmt.Errorf("%w: only the owner of API %s may %s", pubapi.ErrForbidden, a.ID, what)
	}
	return a, nil
}

// checkTarget makes sure a route's target is a function (or cross-account
// alias) of the owner and that the route's timeout fits within its own.
func (s *Server) checkTarget(ctx context.Context, owner string, r pubapi.Route) error {
	ref, err := pubapi.ParseTarget(owner, r.Target)
	if err != nil {
		return err
	}
	f, err := s.cat.Get(ctx, owner, ref.Name)
	if errors.Is(err, catalog.ErrNotFound) {
		// One of the owner's cross-account aliases: the call runs the
		// aliased function with the alias's customizations (its grant is
		// checked on every call), billed to the subscriber.
		if a, xerr := s.cat.CrossAlias(ctx, owner, ref.Name); xerr == nil && ref.Qualifier == "" {
			if a.Timeout > 0 && r.Timeout > a.Timeout {
				return fmt.Errorf("%w: TimeoutSeconds: %d is longer than the alias's timeout (%d s)", pubapi.ErrInvalid, r.Timeout, a.Timeout)
			}
			return nil
		}
		return fmt.Errorf("%w: Target: function %s does not exist", pubapi.ErrInvalid, r.Target)
	}
	if err != nil {
		return err
	}
	cfg, err := s.cat.Resolve(ctx, f, ref.Qualifier)
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("%w: Target: %s has no version or alias %q", pubapi.ErrInvalid, ref.Name, ref.Qualifier)
	}
	if err != nil {
		return err
	}
	if r.Timeout > cfg.Timeout {
		return fmt.Errorf("%w: TimeoutSeconds: %d is longer than the function's timeout (%d s)", pubapi.ErrInvalid, r.Timeout, cfg.Timeout)
	}
	return nil
}

type routeIn struct {
	RouteKey       string
	Target         string
	TimeoutSeconds int
}

// putRoute is PUT /ember/apis/{api}/routes {RouteKey, Target,
// TimeoutSeconds}: adds or replaces a route of the draft.
func (s *Server) putRoute(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	var in routeIn
	if err := decode(c.body, &in); err != nil {
		return 0, nil, err
	}
	if in.RouteKey == "" {
		return 0, nil, fmt.Errorf("%w: RouteKey is required", pubapi.ErrInvalid)
	}
	if in.Target == "" {
		return 0, nil, fmt.Errorf("%w: Target is required", pubapi.ErrInvalid)
	}
	a, err := s.ownAPI(ctx, c, "change its routes")
	if err != nil {
		return 0, nil, err
	}
	r := pubapi.Route{Key: in.RouteKey, Target: in.Target, Timeout: in.TimeoutSeconds}
	if in.TimeoutSeconds < 0 || in.TimeoutSeconds > pubapi.MaxTimeout {
		return 0, nil, fmt.Errorf("%w: TimeoutSeconds: must be 1 to %d seconds (0: the function's own timeout)", pubapi.ErrInvalid, pubapi.MaxTimeout)
	}
	if err := s.checkTarget(ctx, a.Owner, r); err != nil {
		return 0, nil, err
	}
	if a, err = s.apis.PutRoute(ctx, c.caller.ID, a.ID, r); err != nil {
		return 0, nil, err
	}
	return 200, s.renderAPI(ctx, c, a), nil
}

// deleteRoute is DELETE /ember/apis/{api}/routes?RouteKey=.
func (s *Server) deleteRoute(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	key := c.r.URL.Query().Get("RouteKey")
	if key == "" {
		return 0, nil, fmt.Errorf("%w: RouteKey is required (query parameter)", pubapi.ErrInvalid)
	}
	a, err := s.apis.DeleteRoute(ctx, c.caller.ID, c.r.PathValue("api"), key)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderAPI(ctx, c, a), nil
}

// setVisibility is PUT /ember/apis/{api}/visibility {Visibility, Accounts}:
// publishes the API or makes it private.
func (s *Server) setVisibility(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	var in apiIn
	if err := decode(c.body, &in); err != nil {
		return 0, nil, err
	}
	if in.Visibility == nil {
		return 0, nil, fmt.Errorf("%w: Visibility is required (%s, %s or %s)", pubapi.ErrInvalid, pubapi.Private, pubapi.Accounts, pubapi.Public)
	}
	vis, err := s.visibility(ctx, in.Visibility, in.Accounts)
	if err != nil {
		return 0, nil, err
	}
	a, err := s.apis.SetVisibility(ctx, c.caller.ID, c.r.PathValue("api"), *vis)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderAPI(ctx, c, a), nil
}

// deployStage is POST /ember/apis/{api}/stages/{stage} {Description}: the
// draft's routes, as they are now, become what the stage serves.
func (s *Server) deployStage(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	var in struct{ Description string }
	if err := decode(c.body, &in); err != nil {
		return 0, nil, err
	}
	a, err := s.ownAPI(ctx, c, "deploy it")
	if err != nil {
		return 0, nil, err
	}
	for _, r := range a.Routes {
		if err := s.checkTarget(ctx, a.Owner, r); err != nil {
			return 0, nil, fmt.Errorf("%w (route %s)", err, r.Key)
		}
	}
	st, err := s.apis.Deploy(ctx, c.caller.ID, a.ID, c.r.PathValue("stage"), in.Description)
	if err != nil {
		return 0, nil, err
	}
	endpoint := s.baseURL(c.r) + "/apis/" + a.ID
	return 201, stageOut{StageName: st.Name, Description: st.Description, DeploymentId: st.DeploymentID,
		DeployedDate: rfc3339(st.Deployed), InvokeUrl: endpoint + "/" + st.Name, Routes: routesOut(st.Routes, true)}, nil
}

// listStages is GET /ember/apis/{api}/stages.
func (s *Server) listStages(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	a, err := s.apis.Get(ctx, c.caller.ID, c.r.PathValue("api"))
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"Stages": s.renderAPI(ctx, c, a).Stages}, nil
}

// deleteStage is DELETE /ember/apis/{api}/stages/{stage}.
func (s *Server) deleteStage(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	if err := s.apis.DeleteStage(ctx, c.caller.ID, c.r.PathValue("api"), c.r.PathValue("stage")); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

// subscribe is POST /ember/apis/{api}/subscription: the answer holds the
// key, the only time it is shown.
func (s *Server) subscribe(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	sub, key, err := s.apis.Subscribe(ctx, c.caller.ID, c.r.PathValue("api"))
	if err != nil {
		return 0, nil, err
	}
	return 201, s.renderSubscription(ctx, c, sub, key), nil
}

// mySubscription finds the caller's subscription to {api}.
func (s *Server) mySubscription(c *call) (*pubapi.Subscription, error) {
	ref := c.r.PathValue("api")
	if sub, ok := s.apis.Subscription(ref, c.caller.ID); ok {
		return sub, nil
	}
	if a, err := s.apis.Get(c.r.Context(), c.caller.ID, ref); err == nil {
		if sub, ok := s.apis.Subscription(a.ID, c.caller.ID); ok {
			return sub, nil
		}
	}
	return nil, fmt.Errorf("%w: account %s has no subscription to API %s", pubapi.ErrNotFound, c.caller.ID, ref)
}

// getSubscription is GET /ember/apis/{api}/subscription (never the key).
func (s *Server) getSubscription(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	sub, err := s.mySubscription(c)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderSubscription(ctx, c, sub, ""), nil
}

// unsubscribe is DELETE /ember/apis/{api}/subscription: the key stops
// working at once.
func (s *Server) unsubscribe(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	if err := s.apis.Unsubscribe(ctx, c.caller.ID, c.r.PathValue("api")); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

// rotateKey is POST /ember/apis/{api}/subscription/key: a new key, shown
// once; the old one stops working at once.
func (s *Server) rotateKey(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	sub, key, err := s.apis.RotateKey(ctx, c.caller.ID, c.r.PathValue("api"))
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderSubscription(ctx, c, sub, key), nil
}

// listSubscriptions is GET /ember/apis/subscriptions: the caller's.
func (s *Server) listSubscriptions(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	subs := s.apis.Subscriptions(ctx, c.caller.ID)
	out := make([]subscriptionOut, 0, len(subs))
	for _, sub := range subs {
		out = append(out, s.renderSubscription(ctx, c, sub, ""))
	}
	return 200, map[string]any{"Subscriptions": out}, nil
}

// listSubscribers is GET /ember/apis/{api}/subscribers: owner only;
// accounts, plans and today's calls, never keys.
func (s *Server) listSubscribers(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	subs, err := s.apis.Subscribers(ctx, c.caller.ID, c.r.PathValue("api"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]subscriberOut, 0, len(subs))
	for _, sub := range subs {
		out = append(out, subscriberOut{Account: sub.Account, Plan: planOf(sub.Plan), CustomPlan: sub.CustomPlan,
			CallsToday: sub.CallsToday, CreatedDate: rfc3339(sub.Created)})
	}
	return 200, map[string]any{"Subscribers": out}, nil
}

// setPlan is PUT /ember/apis/{api}/subscribers/{account}/plan
// {RateLimit, Burst, DailyQuota}.
func (s *Server) setPlan(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	var in planIO
	if err := decode(c.body, &in); err != nil {
		return 0, nil, err
	}
	p := in.plan()
	return s.changePlan(ctx, c, &p)
}

// resetPlan is DELETE /ember/apis/{api}/subscribers/{account}/plan: back
// to the API's default plan.
func (s *Server) resetPlan(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	return s.changePlan(ctx, c, nil)
}

func (s *Server) changePlan(ctx context.Context, c *call, p *pubapi.Plan) (int, any, error) {
	sub, err := s.apis.SetPlan(ctx, c.caller.ID, c.r.PathValue("api"), c.r.PathValue("account"), p)
	if err != nil {
		return 0, nil, err
	}
	out := s.renderSubscription(ctx, c, sub, "")
	return 200, subscriberOut{Account: sub.Account, Plan: out.Plan, CustomPlan: out.CustomPlan,
		CallsToday: out.CallsToday, CreatedDate: out.CreatedDate}, nil
}

// revokeSubscriber is DELETE /ember/apis/{api}/subscribers/{account}: the
// owner ends a subscription.
func (s *Server) revokeSubscriber(ctx context.Context, c *call) (int, any, error) {
	if err := s.requireAPIs(); err != nil {
		return 0, nil, err
	}
	if err := s.apis.Revoke(ctx, c.caller.ID, c.r.PathValue("api"), c.r.PathValue("account")); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}
