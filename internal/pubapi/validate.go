package pubapi

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/httpevent"
)

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// ValidID reports whether s has the shape of an API id.
func ValidID(s string) bool {
	if len(s) != IDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func newID() string { return randomString(IDLen, idAlphabet) }

// randomString draws n characters of alphabet uniformly from crypto/rand.
func randomString(n int, alphabet string) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	limit := 256 - 256%len(alphabet) // reject bytes that would bias the draw
	for len(out) < n {
		rand.Read(buf)
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

func checkName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > MaxNameLen || !utf8.ValidString(name) {
		return invalid("Name", "must be 1 to %d characters", MaxNameLen)
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f {
			return invalid("Name", "must not contain control characters")
		}
	}
	if strings.TrimSpace(name) != name {
		return invalid("Name", "must not start or end with spaces")
	}
	return nil
}

func checkDescription(d string) error {
	if utf8.RuneCountInString(d) > MaxDescriptionLen || !utf8.ValidString(d) {
		return invalid("Description", "must be at most %d characters of UTF-8", MaxDescriptionLen)
	}
	return nil
}

// ValidStageName reports whether s can name a stage: 1 to 64 of
// [A-Za-z0-9_-].
func ValidStageName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// NormalizeRouteKey upper-cases the method of a route key and checks it
// the way the router will read it.
func NormalizeRouteKey(key string) (string, error) {
	key = strings.TrimSpace(key)
	if key == httpevent.Default {
		return key, nil
	}
	method, path, ok := strings.Cut(key, " ")
	if !ok {
		return "", invalid("RouteKey", "%q must be \"METHOD /path\" (e.g. \"GET /items/{id}\") or %q", key, httpevent.Default)
	}
	key = strings.ToUpper(method) + " " + strings.TrimSpace(path)
	var rt httpevent.Router[struct{}]
	if err := rt.AddKey(key, struct{}{}); err != nil {
		return "", invalid("RouteKey", "%s", strings.TrimPrefix(err.Error(), httpevent.ErrBadRoute.Error()+": "))
	}
	return key, nil
}

// ParseTarget checks a route target: a function of owner, by name or
// ARN, optionally qualified.
func ParseTarget(owner, target string) (arn.FunctionRef, error) {
	ref, err := arn.ParseFunctionName(target)
	if err != nil {
		return ref, invalid("Target", "%s", strings.TrimPrefix(err.Error(), arn.ErrInvalid.Error()+": "))
	}
	if ref.Account != "" && ref.Account != owner {
		return ref, invalid("Target", "%s is not a function of the API's owner (%s)", target, owner)
	}
	ref.Account = owner
	return ref, nil
}

// Check validates a plan.
func (p Plan) Check() error {
	switch {
	case p.RateLimit < 0 || p.RateLimit > MaxRate:
		return invalid("RateLimit", "must be 0 (unlimited) to %d requests per second", MaxRate)
	case p.Burst < 0 || p.Burst > MaxBurst:
		return invalid("Burst", "must be 0 to %d", MaxBurst)
	case p.Burst > 0 && p.RateLimit == 0:
		return invalid("Burst", "needs a RateLimit")
	case p.DailyQuota < 0 || p.DailyQuota > MaxQuota:
		return invalid("DailyQuota", "must be 0 (unlimited) to %d", MaxQuota)
	}
	return nil
}

// normalized fills the burst of a rate-limited plan: the rate rounded up.
func (p Plan) normalized() Plan {
	if p.RateLimit > 0 && p.Burst == 0 {
		p.Burst = max(1, int(p.RateLimit+0.999999))
	}
	return p
}

func checkVisibility(owner string, v Visibility) (Visibility, error) {
	switch v.Mode {
	case Private, Public:
		if len(v.Accounts) > 0 {
			return v, invalid("Accounts", "only a visibility of %q lists accounts", Accounts)
		}
		return Visibility{Mode: v.Mode}, nil
	case Accounts:
	default:
		return v, invalid("Visibility", "must be %s, %s or %s", Private, Accounts, Public)
	}
	if len(v.Accounts) == 0 {
		return v, invalid("Accounts", "visibility %q needs at least one account id", Accounts)
	}
	var out []string
	for _, a := range v.Accounts {
		if !arn.ValidAccountID(a) {
			return v, invalid("Accounts", "%q is not a 12-digit account id", a)
		}
		if a != owner && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) > MaxAccounts {
		return v, invalid("Accounts", "at most %d accounts", MaxAccounts)
	}
	slices.Sort(out)
	return Visibility{Mode: Accounts, Accounts: out}, nil
}
