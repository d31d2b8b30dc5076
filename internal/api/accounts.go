package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ember-run/ember/internal/account"
)

// requireAdmin refuses non-admin callers.
func requireAdmin(c *call) error {
	if !c.caller.Admin {
		return fmt.Errorf("%w: only the admin account may manage accounts", errDenied)
	}
	return nil
}

// requireSelfOrAdmin lets an account manage its own keys.
func requireSelfOrAdmin(c *call, id string) error {
	if c.caller.Admin || c.caller.ID == id {
		return nil
	}
	return fmt.Errorf("%w: account %s", account.ErrNotFound, id)
}

func (s *Server) createAccount(ctx context.Context, c *call) (int, any, error) {
	if err := requireAdmin(c); err != nil {
		return 0, nil, err
	}
	var req struct{ Name string }
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	_, creds, err := s.accts.Create(ctx, req.Name)
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("account created", "account", creds.AccountID, "name", req.Name, "by", c.caller.ID)
	return 201, creds, nil
}

func (s *Server) listAccounts(ctx context.Context, c *call) (int, any, error) {
	if !c.caller.Admin {
		return 200, map[string]any{"Accounts": []account.Account{c.caller}}, nil
	}
	all, err := s.accts.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"Accounts": all}, nil
}

func (s *Server) getAccount(ctx context.Context, c *call) (int, any, error) {
	id := c.r.PathValue("id")
	if err := requireSelfOrAdmin(c, id); err != nil {
		return 0, nil, err
	}
	a, err := s.accts.Get(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	return 200, a, nil
}

func (s *Server) deleteAccount(ctx context.Context, c *call) (int, any, error) {
	if err := requireAdmin(c); err != nil {
		return 0, nil, err
	}
	id := c.r.PathValue("id")
	a, err := s.accts.Get(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	if a.Admin {
		return 0, nil, fmt.Errorf("%w: the admin account cannot be deleted", account.ErrForbidden)
	}
	if err := s.cat.DeleteAccount(ctx, id); err != nil {
		return 0, nil, err
	}
	if s.apis != nil {
		// Its APIs and its subscriptions (and their keys) go with it.
		if err := s.apis.DeleteAccount(ctx, id); err != nil {
			return 0, nil, err
		}
	}
	if err := s.accts.Delete(ctx, id); err != nil {
		return 0, nil, err
	}
	s.log.Info("account deleted", "account", id, "by", c.caller.ID)
	return 204, nil, nil
}

func (s *Server) createKey(ctx context.Context, c *call) (int, any, error) {
	id := c.r.PathValue("id")
	if err := requireSelfOrAdmin(c, id); err != nil {
		return 0, nil, err
	}
	creds, err := s.accts.CreateKey(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	return 201, creds, nil
}

func (s *Server) listKeys(ctx context.Context, c *call) (int, any, error) {
	id := c.r.PathValue("id")
	if err := requireSelfOrAdmin(c, id); err != nil {
		return 0, nil, err
	}
	if _, err := s.accts.Get(ctx, id); err != nil {
		return 0, nil, err
	}
	keys, err := s.accts.ListKeys(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	if keys == nil {
		keys = []account.Key{}
	}
	return 200, map[string]any{"Keys": keys}, nil
}

func (s *Server) deleteKey(ctx context.Context, c *call) (int, any, error) {
	id, akid := c.r.PathValue("id"), c.r.PathValue("akid")
	if err := requireSelfOrAdmin(c, id); err != nil {
		return 0, nil, err
	}
	keys, err := s.accts.ListKeys(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	if len(keys) == 1 && keys[0].AccessKeyID == akid {
		return 0, nil, fmt.Errorf("%w: refusing to delete the last access key of account %s; create another key first", account.ErrForbidden, id)
	}
	if err := s.accts.DeleteKey(ctx, id, akid); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (s *Server) whoami(ctx context.Context, c *call) (int, any, error) {
	return 200, c.caller, nil
}

// downloadCode serves a bundle to the holder of a link made by codeURL.
func (s *Server) downloadCode(w http.ResponseWriter, r *http.Request) {
	acct, sum := r.PathValue("account"), r.PathValue("object")
	q := r.URL.Query()
	sig, err := hex.DecodeString(q.Get("Signature"))
	expires, perr := strconv.ParseInt(q.Get("Expires"), 10, 64)
	if err != nil || perr != nil || !s.ring.Verify(sig, "code", acct, sum, q.Get("Expires")) {
		s.fail(w, r, fmt.Errorf("%w: the code download link is invalid", errDenied))
		return
	}
	if s.now().Unix() > expires {
		s.fail(w, r, fmt.Errorf("%w: the code download link has expired; call GetFunction for a new one", errDenied))
		return
	}
	data, err := s.cat.Code(r.Context(), acct+"/"+sum)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

func hexOf(object string) string {
	_, sum, _ := strings.Cut(object, "/")
	return sum
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func encodeMarker(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func decodeMarker(m string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(m)
	return string(b), err
}
