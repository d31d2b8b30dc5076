package metering

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Role is the side of an execution an account asks about.
type Role int

const (
	// Payer: the executions the account invoked and pays for, in full detail.
	Payer Role = iota
	// Owner: how other accounts used the account's functions, as aggregate
	// counts per function only.
	Owner
)

func (r Role) String() string {
	switch r {
	case Payer:
		return "payer"
	case Owner:
		return "owner"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Groupings for Query.By.
const (
	ByTotal    = ""         // one row, Key ""
	ByFunction = "function" // Payer: the name the payer called (see Usage); Owner: the owner's function; All: "<owner>:<function>"
	ByAlias    = "alias"    // Payer only: the payer's alias name, "" for calls not through an alias; All: "<payer>:<alias>"
	ByAPI      = "api"      // Payer only: "<api id>/<route key>", "" for calls not through an API
	ByPayer    = "payer"    // All (and trivially Payer): the paying account
	ByOwner    = "owner"    // Payer and All: the account owning the code
)

// Query selects and groups records. Records count when Since ≤ Time < Until;
// a zero bound is open.
type Query struct {
	Account string
	Role    Role
	Since   time.Time
	Until   time.Time
	By      string
}

// Row is the usage of one group.
type Row struct {
	Key         string
	Invocations int64 // executions, whatever their outcome; throttles excluded
	Errors      int64 // executions that ended in a function error, a timeout or a platform error
	Throttles   int64 // attempts refused before executing
	Cold        int64
	Duration    time.Duration
	BilledMs    int64
	GBSeconds   float64
}

// clockSlack is how much earlier than Since the stream is read from: a
// message's timestamp is when its batch was stored, which is after its
// records' times on the clock of the node that recorded them, and nodes'
// clocks differ. Records themselves are filtered on their own times.
//
// There is no such cut-off at Until: a record may be stored long after its
// time (a 15-minute invocation records at its end; batches are retried
// while JetStream is unreachable), so the stream is read to its end.
const clockSlack = time.Hour

// Usage aggregates one account's usage in the role asked.
//
// As Payer, By "function" keys the payer's own functions by name and code of
// other accounts by the name the payer called it: its alias, else the API
// route, else "<owner>:<function>" (a direct call by ARN). As Owner, only
// executions paid by other accounts count, and only By "" and "function" are
// allowed: an owner never learns who called, through which alias or route.
func (m *Meter) Usage(ctx context.Context, q Query) ([]Row, error) {
	if !validToken(q.Account) {
		return nil, fmt.Errorf("%w: account %q", ErrInvalid, q.Account)
	}
	if err := checkWindow(q); err != nil {
		return nil, err
	}
	var filter string
	var key func(payer, owner string, w *wire) (string, bool)
	switch q.Role {
	case Payer:
		filter = subject(q.Account, "*")
		switch q.By {
		case ByTotal, ByAPI, ByPayer, ByOwner:
			key = allKey(q.By)
		case ByAlias: // the payer's own names, unqualified
			key = func(_, _ string, w *wire) (string, bool) { return w.Alias, true }
		case ByFunction:
			key = func(payer, owner string, w *wire) (string, bool) {
				switch {
				case owner == payer:
					return w.Function, true
				case w.Alias != "":
					return w.Alias, true
				case w.API != "":
					return w.API, true
				}
				return owner + ":" + w.Function, true
			}
		default:
			return nil, fmt.Errorf("%w: by %q (want function, alias, api, payer, owner or nothing)", ErrInvalid, q.By)
		}
	case Owner:
		filter = subject("*", q.Account)
		var byFunction bool
		switch q.By {
		case ByTotal:
		case ByFunction:
			byFunction = true
		default:
			return nil, fmt.Errorf("%w: an owner's usage is grouped by function or not at all, not by %q", ErrInvalid, q.By)
		}
		key = func(payer, owner string, w *wire) (string, bool) {
			if payer == owner {
				return "", false
			}
			if byFunction {
				return w.Function, true
			}
			return "", true
		}
	default:
		return nil, fmt.Errorf("%w: role %v", ErrInvalid, q.Role)
	}
	return m.aggregate(ctx, filter, q.Since, q.Until, key)
}

// All aggregates every account's usage, for operators. Account and Role are
// ignored; keys are qualified by account where names are per account.
func (m *Meter) All(ctx context.Context, q Query) ([]Row, error) {
	if err := checkWindow(q); err != nil {
		return nil, err
	}
	switch q.By {
	case ByTotal, ByFunction, ByAlias, ByAPI, ByPayer, ByOwner:
	default:
		return nil, fmt.Errorf("%w: by %q (want function, alias, api, payer, owner or nothing)", ErrInvalid, q.By)
	}
	return m.aggregate(ctx, "usage.>", q.Since, q.Until, allKey(q.By))
}

func checkWindow(q Query) error {
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		return fmt.Errorf("%w: until %v is before since %v", ErrInvalid, q.Until, q.Since)
	}
	return nil
}

// allKey groups without privacy restrictions, qualifying per-account names.
func allKey(by string) func(payer, owner string, w *wire) (string, bool) {
	return func(payer, owner string, w *wire) (string, bool) {
		switch by {
		case ByFunction:
			return owner + ":" + w.Function, true
		case ByAlias:
			if w.Alias == "" {
				return "", true
			}
			return payer + ":" + w.Alias, true
		case ByAPI:
			return w.API, true
		case ByPayer:
			return payer, true
		case ByOwner:
			return owner, true
		}
		return "", true
	}
}

type sums struct {
	Row
	mbms int64 // MB × billed ms, summed exactly; GB-seconds derived once
}

// aggregate reads the records on subjects matching filter within the window
// and sums them by key (skipping records key refuses), rows sorted by key.
//
// It replays the stream from the window's start on every query, which is
// fine while accounts are small. A rollup belongs here when it is not: a
// consumer folding records into per-(payer, owner, function, alias, api,
// hour) sums in a KV bucket, with queries reading whole hours from the
// rollup and only the ragged edges from the stream.
func (m *Meter) aggregate(ctx context.Context, filter string, since, until time.Time, key func(payer, owner string, w *wire) (string, bool)) ([]Row, error) {
	groups := map[string]*sums{}
	err := m.scan(ctx, filter, since, until, func(payer, owner string, w *wire) {
		k, ok := key(payer, owner, w)
		if !ok {
			return
		}
		s := groups[k]
		if s == nil {
			s = &sums{Row: Row{Key: k}}
			groups[k] = s
		}
		if w.Outcome == Throttled {
			s.Throttles++
			return
		}
		s.Invocations++
		if w.Outcome != Success {
			s.Errors++
		}
		if w.Cold {
			s.Cold++
		}
		s.Duration += time.Duration(w.Duration)
		s.BilledMs += w.BilledMs
		s.mbms += int64(w.MemoryMB) * w.BilledMs
	})
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(groups))
	for _, s := range groups {
		s.GBSeconds = float64(s.mbms) / (1024 * 1000)
		rows = append(rows, s.Row)
	}
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a.Key, b.Key) })
	return rows, nil
}

// scan calls fn for each stored record on subjects matching filter whose
// time is within [since, until), reading what was stored when it began.
func (m *Meter) scan(ctx context.Context, filter string, since, until time.Time, fn func(payer, owner string, w *wire)) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if !since.IsZero() {
		start := since.Add(-clockSlack)
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &start
	}
	cons, err := m.js.OrderedConsumer(ctx, Stream, cfg)
	if err != nil {
		return fmt.Errorf("metering: consumer: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("metering: consumer info: %w", err)
	}
	pending := info.NumPending
	if pending == 0 {
		return nil
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("metering: read: %w", err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)()
	// Stop after the messages pending at the start, so that a query under
	// steady writes ends.
	for read := uint64(0); read < pending; read++ {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return fmt.Errorf("metering: read: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("metering: read: %w", err)
		}
		payer, owner, ok := tokens(msg.Subject())
		var batch []wire // fresh: decoding into reused elements would keep omitted fields
		if ok && json.Unmarshal(msg.Data(), &batch) == nil {
			for i := range batch {
				w := &batch[i]
				t := time.Unix(0, w.Time)
				if (!since.IsZero() && t.Before(since)) || (!until.IsZero() && !t.Before(until)) {
					continue
				}
				fn(payer, owner, w)
			}
		}
		if meta.NumPending == 0 {
			return nil
		}
	}
	return nil
}
