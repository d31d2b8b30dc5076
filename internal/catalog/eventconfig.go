package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/ember-run/ember/internal/arn"
)

// EventConfig is a function's (or qualifier's) asynchronous invocation
// configuration: how often a failed event is retried, how old it may get,
// and where records of successes and failures go.
type EventConfig struct {
	MaximumRetryAttempts     *int
	MaximumEventAgeInSeconds *int
	OnSuccess                string // destination function ARN
	OnFailure                string
	LastModified             time.Time
}

// EventConfigPatch updates an EventConfig; nil fields are unchanged (Update)
// or cleared (Put).
type EventConfigPatch struct {
	MaximumRetryAttempts     *int
	MaximumEventAgeInSeconds *int
	OnSuccess, OnFailure     *string
}

func (c *Catalog) checkDestination(account, dest string) error {
	if dest == "" {
		return nil
	}
	ref, err := arn.ParseFunctionARN(dest)
	if err != nil {
		return invalidf("The destination ARN %s is invalid: ember delivers destinations only to Lambda functions (SQS, SNS and EventBridge are not available).", dest)
	}
	if ref.Account != account {
		return invalidf("The destination %s must be a function in the same account.", dest)
	}
	return nil
}

// PutEventConfig sets (replace) or updates (merge) the configuration of a
// qualifier ("" for the unqualified function).
func (c *Catalog) PutEventConfig(ctx context.Context, account, name, qualifier string, p EventConfigPatch, merge bool) (EventConfig, error) {
	if v := p.MaximumRetryAttempts; v != nil && (*v < 0 || *v > 2) {
		return EventConfig{}, invalidf("1 validation error detected: Value '%d' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value between 0 and 2", *v)
	}
	if v := p.MaximumEventAgeInSeconds; v != nil && (*v < 60 || *v > 21600) {
		return EventConfig{}, invalidf("1 validation error detected: Value '%d' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value between 60 and 21600", *v)
	}
	for _, d := range []*string{p.OnSuccess, p.OnFailure} {
		if d != nil {
			if err := c.checkDestination(account, *d); err != nil {
				return EventConfig{}, err
			}
		}
	}
	var out EventConfig
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if err := c.checkQualifierExists(f, qualifier); err != nil {
			return err
		}
		q := qualifierKey(qualifier)
		var ec EventConfig
		if merge {
			old, ok := f.EventConfigs[q]
			if !ok {
				return fmt.Errorf("%w: The function %s doesn't have an EventInvokeConfig", ErrNotFound, c.ARN(account, name, qualifier))
			}
			ec = *old
		}
		set2 := func(dst **int, src *int) {
			if src != nil || !merge {
				*dst = src
			}
		}
		set2(&ec.MaximumRetryAttempts, p.MaximumRetryAttempts)
		set2(&ec.MaximumEventAgeInSeconds, p.MaximumEventAgeInSeconds)
		if p.OnSuccess != nil || !merge {
			ec.OnSuccess = deref(p.OnSuccess)
		}
		if p.OnFailure != nil || !merge {
			ec.OnFailure = deref(p.OnFailure)
		}
		ec.LastModified = c.now().UTC()
		if f.EventConfigs == nil {
			f.EventConfigs = map[string]*EventConfig{}
		}
		f.EventConfigs[q] = &ec
		out = ec
		return nil
	})
	return out, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// DeleteEventConfig removes a qualifier's configuration.
func (c *Catalog) DeleteEventConfig(ctx context.Context, account, name, qualifier string) error {
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		q := qualifierKey(qualifier)
		if _, ok := f.EventConfigs[q]; !ok {
			return fmt.Errorf("%w: The function %s doesn't have an EventInvokeConfig", ErrNotFound, c.ARN(account, name, qualifier))
		}
		delete(f.EventConfigs, q)
		return nil
	})
	return err
}

// EventConfigFor returns the configuration that applies to an invocation
// of qualifier: its own, else the unqualified function's, else none.
func (f *Function) EventConfigFor(qualifier string) (EventConfig, bool) {
	if ec, ok := f.EventConfigs[qualifierKey(qualifier)]; ok {
		return *ec, true
	}
	if ec, ok := f.EventConfigs[""]; ok {
		return *ec, true
	}
	return EventConfig{}, false
}

// EventConfigOf returns exactly the configuration set on qualifier.
func (f *Function) EventConfigOf(qualifier string) (*EventConfig, bool) {
	ec, ok := f.EventConfigs[qualifierKey(qualifier)]
	return ec, ok
}
