package account

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/ember-run/ember/internal/store"
)

// UIDBase is the first host uid given to sandboxes. Every account gets its
// own uid (and gid) above it, allocated once and kept, so processes of two
// accounts never share an identity on the host.
const UIDBase = 200_000

// maxUIDs bounds the range (uids stay below 2^31 for every tool's sake).
const maxUIDs = 1 << 30

// UID returns the account's sandbox uid, allocating it on first use.
func (s *Service) UID(ctx context.Context, accountID string) (int, error) {
	s.mu.Lock()
	uid, ok := s.uids[accountID]
	s.mu.Unlock()
	if ok {
		return uid, nil
	}
	for range 50 {
		if e, err := s.kv.Get(ctx, "uid."+accountID); err == nil {
			n, err := strconv.Atoi(string(e.Value))
			if err != nil {
				return 0, fmt.Errorf("account: corrupt uid record for %s", accountID)
			}
			s.mu.Lock()
			s.uids[accountID] = n
			s.mu.Unlock()
			return n, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
		// Take the next number from the sequence with compare-and-set.
		var next int
		seq, err := s.kv.Get(ctx, "uidseq")
		switch {
		case errors.Is(err, store.ErrNotFound):
			next = UIDBase
			_, err = s.kv.Create(ctx, "uidseq", []byte(strconv.Itoa(next+1)))
		case err == nil:
			next, _ = strconv.Atoi(string(seq.Value))
			if next-UIDBase >= maxUIDs {
				return 0, errors.New("account: sandbox uid range exhausted")
			}
			_, err = s.kv.Update(ctx, "uidseq", []byte(strconv.Itoa(next+1)), seq.Revision)
		}
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if _, err := s.kv.Create(ctx, "uid."+accountID, []byte(strconv.Itoa(next))); err != nil && !errors.Is(err, store.ErrConflict) {
			return 0, err
		}
		// On conflict another node allocated first; the loop reads theirs.
	}
	return 0, errors.New("account: could not allocate a sandbox uid")
}
