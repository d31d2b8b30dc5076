package pubapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ember-run/ember/internal/httpevent"
	"github.com/ember-run/ember/internal/store"
)

// Stage is a deployed snapshot of an API's routes.
type Stage struct {
	API          string
	Name         string
	Description  string `json:",omitempty"`
	Routes       []Route
	DeploymentID string
	Deployed     time.Time

	rev    uint64
	router *httpevent.Router[Route]
}

// Match finds the stage's route for a request: method and the path below
// the stage, percent-encoded as sent. Without a route it returns an error
// wrapping httpevent.ErrNoRoute or httpevent.ErrMethodNotAllowed.
func (st *Stage) Match(method, path string) (Route, httpevent.Route, error) {
	if st.router == nil {
		return Route{}, httpevent.Route{}, httpevent.ErrNoRoute
	}
	return st.router.Match(method, path)
}

func (st *Stage) compile() error {
	rt := &httpevent.Router[Route]{}
	for _, r := range st.Routes {
		if err := rt.AddKey(r.Key, r); err != nil {
			return err
		}
	}
	st.router = rt
	return nil
}

// Deploy freezes the API's current routes as stage, creating or replacing
// it. Later route edits do not reach the stage until it is deployed again.
func (s *Store) Deploy(ctx context.Context, caller, ref, stage, description string) (*Stage, error) {
	if !ValidStageName(stage) {
		return nil, invalid("StageName", "%q must be 1 to 64 letters, digits, hyphens or underscores", stage)
	}
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	a, err := s.Get(ctx, caller, ref)
	if err != nil {
		return nil, err
	}
	if a.Owner != caller {
		return nil, fmt.Errorf("%w: only the owner of API %s may deploy it", ErrForbidden, a.ID)
	}
	if len(a.Routes) == 0 {
		return nil, invalid("Routes", "API %s has no routes to deploy", a.ID)
	}
	k := stageKey(a.ID, stage)
	old, exists := mirrorGet[*Stage](s.mirror, k)
	if !exists && len(s.mirror.scan(stagePrefix(a.ID))) >= MaxStages {
		return nil, invalid("StageName", "API %s already has %d stages, the most allowed", a.ID, MaxStages)
	}
	st := &Stage{API: a.ID, Name: stage, Description: description, Routes: slices.Clone(a.Routes),
		DeploymentID: randomString(IDLen, idAlphabet), Deployed: s.now().UTC().Truncate(time.Millisecond)}
	var rev uint64
	if exists {
		rev = old.rev
	}
	n, err := s.put(ctx, k, st, rev, !exists)
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("%w: stage %s of API %s is being deployed concurrently; retry", ErrConflict, stage, a.ID)
	}
	if err != nil {
		return nil, err
	}
	st.rev = n
	if err := st.compile(); err != nil {
		return nil, err
	}
	return st, nil
}

// Stages lists an API's deployed stages, by name.
func (s *Store) Stages(ctx context.Context, caller, ref string) ([]*Stage, error) {
	a, err := s.Get(ctx, caller, ref)
	if err != nil {
		return nil, err
	}
	var out []*Stage
	for _, obj := range s.mirror.scan(stagePrefix(a.ID)) {
		out = append(out, obj.(*Stage))
	}
	return out, nil
}

// DeleteStage removes a deployed stage: its URL stops answering.
func (s *Store) DeleteStage(ctx context.Context, caller, ref, stage string) error {
	a, err := s.Get(ctx, caller, ref)
	if err != nil {
		return err
	}
	if a.Owner != caller {
		return fmt.Errorf("%w: only the owner of API %s may delete its stages", ErrForbidden, a.ID)
	}
	st, ok := s.Stage(a.ID, stage)
	if !ok {
		return fmt.Errorf("%w: API %s has no stage %s", ErrNotFound, a.ID, stage)
	}
	return s.del(ctx, stageKey(a.ID, stage), st.rev)
}

// Stage returns a deployed stage (the gateway's lookup).
func (s *Store) Stage(id, stage string) (*Stage, bool) {
	if !ValidID(id) || !ValidStageName(stage) {
		return nil, false
	}
	return mirrorGet[*Stage](s.mirror, stageKey(id, stage))
}
