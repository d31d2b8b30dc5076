package invoke

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/channel"
	"github.com/ember-run/ember/internal/policy"
)

// brokered runs a call a sandbox made through its platform channel: to a
// portion of its own function, or to another function its policy names.
// The callee runs in its own sandboxes under its own policy, billed to the
// caller's payer; another account's function must have granted the
// caller's account lambda:InvokeFunction.
func (s *Service) brokered(ctx context.Context, call channel.Call, payer string) (channel.Result, error) {
	if !call.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, call.Deadline)
		defer cancel()
	}
	g := call.Grant
	req := Request{Payload: call.Payload, Payer: payer}
	if call.Portion != "" {
		req.Account, req.Function, req.Qualifier, req.Portion = g.Account, g.Function, g.Version, call.Portion
	} else {
		ref, err := arn.ParseFunctionName(call.Target)
		if err != nil {
			return channel.Result{}, fmt.Errorf("%w: %v", channel.ErrInvalid, err)
		}
		req.Account, req.Function, req.Qualifier = ref.Account, ref.Name, ref.Qualifier
		if req.Account == "" {
			req.Account = g.Account
		}
		if req.Account != g.Account {
			f, err := s.opts.Catalog.Get(ctx, req.Account, req.Function)
			if err != nil || !f.Allows(g.Account, req.Qualifier, "lambda:InvokeFunction") {
				return channel.Result{}, fmt.Errorf("%w: %s has not granted this account lambda:InvokeFunction", channel.ErrForbidden, call.Target)
			}
		}
	}
	resp, err := s.Invoke(ctx, req)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return channel.Result{}, fmt.Errorf("%w: %v", channel.ErrNotFound, err)
	case errors.Is(err, ErrThrottled):
		return channel.Result{}, fmt.Errorf("%w: %v", channel.ErrThrottled, err)
	case errors.Is(err, ErrBadPayload), errors.Is(err, ErrTooLarge), errors.Is(err, policy.ErrInvalid), errors.Is(err, catalog.ErrInvalid):
		return channel.Result{}, fmt.Errorf("%w: %v", channel.ErrInvalid, err)
	case err != nil:
		return channel.Result{}, err
	}
	return channel.Result{Payload: resp.Payload, FunctionError: resp.FunctionError}, nil
}

// extensionsIn lists the external extensions of an extracted bundle: the
// executable regular files directly in its extensions/ directory, which
// the sandbox starts beside the runtime (Lambda's /opt/extensions).
func extensionsIn(codeDir string) []string {
	entries, err := os.ReadDir(filepath.Join(codeDir, "extensions"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}
