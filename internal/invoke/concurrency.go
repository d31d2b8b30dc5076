package invoke

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ember-run/ember/internal/catalog"
)

// Throttle reasons, as Lambda reports them in a 429's body.
const (
	ReasonAccountLimit  = "ConcurrentInvocationLimitExceeded"
	ReasonReservedLimit = "ReservedFunctionConcurrentInvocationLimitExceeded"
	ReasonNodeCapacity  = "ConcurrentInvocationLimitExceeded"
)

// ThrottleError is a refused invocation; it wraps ErrThrottled.
type ThrottleError struct {
	Reason     string
	Message    string
	RetryAfter time.Duration
}

func (e *ThrottleError) Error() string { return ErrThrottled.Error() + ": " + e.Message }
func (e *ThrottleError) Unwrap() error { return ErrThrottled }

// limiter enforces Lambda's concurrency model: a function with reserved
// concurrency N never runs more than N at once (0 refuses everything) and
// has those N to itself; all other functions of the account share what the
// reservations leave of the account limit. Nothing is queued: over a limit
// the invocation is refused at once.
type limiter struct {
	cat *catalog.Catalog

	mu         sync.Mutex
	byFunction map[string]int // account/name → in flight (reserved functions)
	unreserved map[string]int // account → in flight without a reservation
	reserved   map[string]reservedSum
}

func newLimiter(cat *catalog.Catalog) *limiter {
	return &limiter{cat: cat, byFunction: map[string]int{}, unreserved: map[string]int{}, reserved: map[string]reservedSum{}}
}

// reservedSum is an account's sum of reservations as last read.
type reservedSum struct {
	sum  int
	gen  uint64    // the catalog generation it was read at
	read time.Time // zero: never read
	// refresh is closed when the read under way ends (nil: none is).
	refresh chan struct{}
}

// reservedMaxAge bounds how long a sum is trusted without a change seen:
// a missed watch update heals within it.
const reservedMaxAge = 10 * time.Second

// reservedTotal is the account's sum of reservations. It is re-read from
// the catalog only after a change that may move it (see
// catalog.ReservedGeneration) or after reservedMaxAge, by one caller at a
// time; the others go on with the previous sum meanwhile, or wait for the
// first one.
func (l *limiter) reservedTotal(ctx context.Context, account string) int {
	for {
		gen := l.cat.ReservedGeneration(account)
		l.mu.Lock()
		r := l.reserved[account]
		fresh := !r.read.IsZero() && r.gen == gen && time.Since(r.read) < reservedMaxAge
		if fresh || (r.refresh != nil && !r.read.IsZero()) {
			l.mu.Unlock()
			return r.sum
		}
		if wait := r.refresh; wait != nil {
			l.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return 0
			}
		}
		done := make(chan struct{})
		r.refresh = done
		l.reserved[account] = r
		l.mu.Unlock()

		sum, gen, err := l.cat.ReservedTotal(ctx, account)
		l.mu.Lock()
		r = l.reserved[account]
		r.refresh = nil
		if err == nil {
			r.sum, r.gen, r.read = sum, gen, time.Now()
		}
		l.reserved[account] = r
		l.mu.Unlock()
		close(done)
		return r.sum
	}
}

// admit takes a concurrency slot for f, or refuses with a ThrottleError.
// The returned func gives the slot back. A function with reserved
// concurrency runs within it, whoever calls; a call on behalf of another
// account (payer: a cross-account alias's or an API subscriber's) also
// takes a slot of that account's unreserved concurrency, which it pays for.
func (l *limiter) admit(ctx context.Context, f *catalog.Function, payer string) (func(), error) {
	account := f.Account
	if payer != "" {
		account = payer
	}
	fnKey := f.Account + "/" + f.Name
	useReserved := f.Reserved != nil
	useAccount := !useReserved || account != f.Account
	limit := 0
	if useAccount {
		limit = l.cat.Settings().AccountConcurrency - l.reservedTotal(ctx, account)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if useReserved && l.byFunction[fnKey] >= *f.Reserved {
		return nil, &ThrottleError{Reason: ReasonReservedLimit, RetryAfter: time.Second,
			Message: fmt.Sprintf("Rate Exceeded. The function's reserved concurrency (%d) is in use.", *f.Reserved)}
	}
	if useAccount && l.unreserved[account] >= limit {
		return nil, &ThrottleError{Reason: ReasonAccountLimit, RetryAfter: time.Second,
			Message: fmt.Sprintf("Rate Exceeded. The account's unreserved concurrency (%d) is in use.", limit)}
	}
	if useReserved {
		l.byFunction[fnKey]++
	}
	if useAccount {
		l.unreserved[account]++
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if useReserved {
			l.byFunction[fnKey]--
		}
		if useAccount {
			l.unreserved[account]--
		}
	}, nil
}
