package catalog

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxTags is Lambda's per-function tag limit.
const MaxTags = 50

func validateTags(tags map[string]string, existing int) error {
	if len(tags)+existing > MaxTags {
		return invalidf("Number of tags exceeds resource tag limit of %d.", MaxTags)
	}
	for k, v := range tags {
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
			return invalidf("Tag key %q must be 1 to 128 characters long.", k)
		}
		if utf8.RuneCountInString(v) > 256 {
			return invalidf("Tag value for key %q must be at most 256 characters long.", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return invalidf("Tag keys prefixed with 'aws:' are reserved: %q.", k)
		}
		if k == KeepAliveTag {
			if _, err := parseKeepAlive(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// KeepAliveTag, set on a function, is how long (seconds, 1–86400) its
// idle warm sandboxes are kept before they are reclaimed, instead of the
// server's --idle-ttl. It is a tag so that the AWS CLI and SDKs can set it.
const KeepAliveTag = "ember:keep-alive"

func parseKeepAlive(v string) (time.Duration, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 86400 {
		return 0, invalidf("Tag %s must be a number of seconds from 1 to 86400, not %q.", KeepAliveTag, v)
	}
	return time.Duration(n) * time.Second, nil
}

// KeepAlive returns the function's own idle keep-alive (its KeepAliveTag),
// or 0 when it has none.
func (f *Function) KeepAlive() time.Duration {
	d, err := parseKeepAlive(f.Tags[KeepAliveTag])
	if err != nil {
		return 0
	}
	return d
}

// TagResource adds or replaces tags.
func (c *Catalog) TagResource(ctx context.Context, account, name string, tags map[string]string) error {
	if len(tags) == 0 {
		return invalidf("Tags must contain at least one tag.")
	}
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		merged := maps.Clone(f.Tags)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, tags)
		if err := validateTags(merged, 0); err != nil {
			return err
		}
		f.Tags = merged
		return nil
	})
	return err
}

// UntagResource removes tags by key; missing keys are ignored.
func (c *Catalog) UntagResource(ctx context.Context, account, name string, keys []string) error {
	if len(keys) == 0 {
		return invalidf("TagKeys must contain at least one key.")
	}
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		f.Tags = maps.Clone(f.Tags)
		for _, k := range keys {
			delete(f.Tags, k)
		}
		return nil
	})
	return err
}

// PutConcurrency reserves concurrency for a function; nil removes the
// reservation. Reservations must leave MinUnreserved to the rest.
func (c *Catalog) PutConcurrency(ctx context.Context, account, name string, n *int) (*Function, error) {
	if n != nil && *n < 0 {
		return nil, invalidf("ReservedConcurrentExecutions must be at least 0.")
	}
	var others int
	if n != nil {
		fns, err := c.List(ctx, account)
		if err != nil {
			return nil, err
		}
		for _, f := range fns {
			if f.Name != name && f.Reserved != nil {
				others += *f.Reserved
			}
		}
		if limit := c.cfg.AccountConcurrency - c.cfg.MinUnreserved(); others+*n > limit {
			return nil, invalidf("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", c.cfg.MinUnreserved())
		}
	}
	return c.mutate(ctx, account, name, func(f *Function) error {
		if n == nil {
			f.Reserved = nil
		} else {
			v := *n
			f.Reserved = &v
		}
		return nil
	})
}
