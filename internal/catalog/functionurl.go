package catalog

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/store"
)

// Function URL auth types and invoke modes, as Lambda spells them.
const (
	URLAuthNone       = "NONE"
	URLAuthIAM        = "AWS_IAM"
	URLBuffered       = "BUFFERED"
	URLResponseStream = "RESPONSE_STREAM"
)

// URLIDLength is the length of a function URL's id: lowercase letters and
// digits, as Lambda's.
const URLIDLength = 32

// FunctionURL is the function URL config of the unqualified function or of
// one alias. Its ID is chosen at creation and never changes; the URL is
// served until the config, its alias or the function is deleted.
type FunctionURL struct {
	ID           string
	AuthType     string
	Cors         *Cors `json:",omitempty"`
	InvokeMode   string
	Created      time.Time
	LastModified time.Time
}

// Cors is a function URL's cross-origin resource sharing configuration.
type Cors struct {
	AllowCredentials bool
	AllowHeaders     []string `json:",omitempty"`
	AllowMethods     []string `json:",omitempty"`
	AllowOrigins     []string `json:",omitempty"`
	ExposeHeaders    []string `json:",omitempty"`
	MaxAge           int
}

// FunctionURLInput is a CreateFunctionUrlConfig or UpdateFunctionUrlConfig
// request; for updates, nil fields are unchanged (a Cors replaces the whole
// CORS configuration).
type FunctionURLInput struct {
	AuthType   *string
	Cors       *Cors
	InvokeMode *string
}

// urlIndex is the record under urlKey(id): which function and qualifier a
// URL id belongs to. The config itself lives in the function record; the
// index only finds it, and FunctionURLByID checks the two agree.
type urlIndex struct {
	Account, Name, Qualifier string
}

func urlKey(id string) string { return "url." + id }

const urlIDChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// newURLID draws URLIDLength characters uniformly from urlIDChars.
func newURLID() string {
	out := make([]byte, 0, URLIDLength)
	buf := make([]byte, 64)
	for len(out) < URLIDLength {
		rand.Read(buf)
		for _, b := range buf {
			// 252 = 7*36: reject the tail so every character is equally likely.
			if b < 252 && len(out) < URLIDLength {
				out = append(out, urlIDChars[int(b)%len(urlIDChars)])
			}
		}
	}
	return string(out)
}

// ValidURLID reports whether id has the shape of a function URL id.
func ValidURLID(id string) bool {
	if len(id) != URLIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !strings.ContainsRune(urlIDChars, rune(id[i])) {
			return false
		}
	}
	return true
}

// checkURLQualifier: a URL belongs to the unqualified function or to an
// alias, never to $LATEST or a version (Lambda's FunctionUrlQualifier).
func checkURLQualifier(q string) error {
	if q == "" || arn.ValidAliasName(q) {
		return nil
	}
	return invalidf("1 validation error detected: Value '%s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)", q)
}

var corsMethods = []string{"GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"}

// validate checks a CORS configuration against Lambda's constraints.
func (cr *Cors) validate() error {
	lists := []struct {
		field string
		vals  []string
		max   int
	}{
		{"cors.allowHeaders", cr.AllowHeaders, 1024},
		{"cors.exposeHeaders", cr.ExposeHeaders, 1024},
		{"cors.allowOrigins", cr.AllowOrigins, 253},
	}
	for _, l := range lists {
		if len(l.vals) > 100 {
			return invalidf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to 100", l.field)
		}
		for _, v := range l.vals {
			if v == "" || len(v) > l.max || strings.ContainsAny(v, "\r\n") {
				return invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to %d, Member must have length greater than or equal to 1]", v, l.field, l.max)
			}
		}
	}
	if len(cr.AllowMethods) > 6 {
		return invalidf("1 validation error detected: Value at 'cors.allowMethods' failed to satisfy constraint: Member must have length less than or equal to 6")
	}
	for i, m := range cr.AllowMethods {
		up := strings.ToUpper(m)
		if !slices.Contains(corsMethods, up) {
			return invalidf("1 validation error detected: Value '%s' at 'cors.allowMethods' failed to satisfy constraint: Member must satisfy enum value set: [%s]", m, strings.Join(corsMethods, ", "))
		}
		cr.AllowMethods[i] = up
	}
	if cr.MaxAge < 0 || cr.MaxAge > 86400 {
		return invalidf("1 validation error detected: Value '%d' at 'cors.maxAge' failed to satisfy constraint: Member must have value between 0 and 86400", cr.MaxAge)
	}
	return nil
}

func (in FunctionURLInput) validate(create bool) error {
	switch {
	case in.AuthType == nil && create:
		return invalidf("1 validation error detected: Value null at 'authType' failed to satisfy constraint: Member must not be null")
	case in.AuthType != nil && *in.AuthType != URLAuthNone && *in.AuthType != URLAuthIAM:
		return invalidf("1 validation error detected: Value '%s' at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]", *in.AuthType)
	case in.InvokeMode != nil && *in.InvokeMode != "" && *in.InvokeMode != URLBuffered && *in.InvokeMode != URLResponseStream:
		return invalidf("1 validation error detected: Value '%s' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]", *in.InvokeMode)
	}
	if in.Cors != nil {
		return in.Cors.validate()
	}
	return nil
}

// orNil is c, or nil when c configures nothing.
func (c *Cors) orNil() *Cors {
	if c == nil || !c.AllowCredentials && c.MaxAge == 0 &&
		len(c.AllowHeaders)+len(c.AllowMethods)+len(c.AllowOrigins)+len(c.ExposeHeaders) == 0 {
		return nil
	}
	return c
}

func cloneCors(cr *Cors) *Cors {
	if cr == nil {
		return nil
	}
	out := *cr
	out.AllowHeaders = slices.Clone(cr.AllowHeaders)
	out.AllowMethods = slices.Clone(cr.AllowMethods)
	out.AllowOrigins = slices.Clone(cr.AllowOrigins)
	out.ExposeHeaders = slices.Clone(cr.ExposeHeaders)
	return &out
}

// CreateFunctionURL gives the function (qualifier "") or one of its
// aliases a URL.
func (c *Catalog) CreateFunctionURL(ctx context.Context, account, name, qualifier string, in FunctionURLInput) (FunctionURL, error) {
	if err := checkURLQualifier(qualifier); err != nil {
		return FunctionURL{}, err
	}
	in.Cors = cloneCors(in.Cors)
	if err := in.validate(true); err != nil {
		return FunctionURL{}, err
	}
	id := newURLID()
	var out FunctionURL
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if err := c.checkQualifierExists(f, qualifier); err != nil {
			return err
		}
		if _, ok := f.URLs[qualifier]; ok {
			return fmt.Errorf("%w: Failed to create function url config for [functionArn = %s]. Error message:  FunctionUrlConfig exists for this Lambda function",
				ErrExists, c.ARN(account, name, qualifier))
		}
		now := c.now().UTC()
		u := FunctionURL{ID: id, AuthType: *in.AuthType, Cors: in.Cors.orNil(), InvokeMode: URLBuffered, Created: now, LastModified: now}
		if in.InvokeMode != nil && *in.InvokeMode != "" {
			u.InvokeMode = *in.InvokeMode
		}
		if f.URLs == nil {
			f.URLs = map[string]*FunctionURL{}
		}
		f.URLs[qualifier] = &u
		out = u
		return nil
	})
	if err != nil {
		return FunctionURL{}, err
	}
	// The index is written after the config, so a URL id that can be found
	// always has its config; a crash in between leaves a config whose URL
	// answers 404 until it is deleted and created again.
	ix, _ := json.Marshal(urlIndex{Account: account, Name: name, Qualifier: qualifier})
	if _, err := c.kv.Put(ctx, urlKey(id), ix); err != nil {
		c.DeleteFunctionURL(ctx, account, name, qualifier)
		return FunctionURL{}, err
	}
	return out, nil
}

// UpdateFunctionURL changes a URL's auth type, CORS or invoke mode.
func (c *Catalog) UpdateFunctionURL(ctx context.Context, account, name, qualifier string, in FunctionURLInput) (FunctionURL, error) {
	if err := checkURLQualifier(qualifier); err != nil {
		return FunctionURL{}, err
	}
	in.Cors = cloneCors(in.Cors)
	if err := in.validate(false); err != nil {
		return FunctionURL{}, err
	}
	var out FunctionURL
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if err := c.checkQualifierExists(f, qualifier); err != nil {
			return err
		}
		old, ok := f.URLs[qualifier]
		if !ok {
			return urlNotFound()
		}
		u := *old
		set(&u.AuthType, in.AuthType)
		if in.InvokeMode != nil && *in.InvokeMode != "" {
			u.InvokeMode = *in.InvokeMode
		}
		if in.Cors != nil {
			u.Cors = in.Cors.orNil() // an empty Cors removes the configuration
		}
		u.LastModified = c.now().UTC()
		f.URLs[qualifier] = &u
		out = u
		return nil
	})
	return out, err
}

// DeleteFunctionURL removes a URL; its id is never served again.
func (c *Catalog) DeleteFunctionURL(ctx context.Context, account, name, qualifier string) error {
	if err := checkURLQualifier(qualifier); err != nil {
		return err
	}
	var id string
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if err := c.checkQualifierExists(f, qualifier); err != nil {
			return err
		}
		u, ok := f.URLs[qualifier]
		if !ok {
			return urlNotFound()
		}
		id = u.ID
		delete(f.URLs, qualifier)
		return nil
	})
	if err != nil {
		return err
	}
	if err := c.kv.Delete(ctx, urlKey(id), 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		c.log.Warn("catalog: leftover function URL index", "id", id, "err", err)
	}
	return nil
}

// FunctionURLOf returns the URL config of qualifier ("" or an alias).
func (f *Function) FunctionURLOf(qualifier string) (FunctionURL, error) {
	if err := checkURLQualifier(qualifier); err != nil {
		return FunctionURL{}, err
	}
	u, ok := f.URLs[qualifier]
	if !ok {
		return FunctionURL{}, urlNotFound()
	}
	return *u, nil
}

// FunctionURLByID finds the function and qualifier a URL id serves. The
// index is checked against the function record, so an id whose config,
// alias or function is gone is not found (and its index record is dropped).
func (c *Catalog) FunctionURLByID(ctx context.Context, id string) (*Function, string, FunctionURL, error) {
	if !ValidURLID(id) {
		return nil, "", FunctionURL{}, urlNotFound()
	}
	// An id always names the same function and qualifier (ids are random
	// and never reused), so the index is cached; whether the URL still
	// exists is checked against the function record below.
	ix, cached := c.cache.urlIndex(id)
	var rev uint64
	if !cached {
		e, err := c.kv.Get(ctx, urlKey(id))
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", FunctionURL{}, urlNotFound()
		}
		if err != nil {
			return nil, "", FunctionURL{}, err
		}
		if err := json.Unmarshal(e.Value, &ix); err != nil {
			return nil, "", FunctionURL{}, fmt.Errorf("catalog: corrupt record %s: %w", e.Key, err)
		}
		rev = e.Revision
		c.cache.putURLIndex(id, ix)
	}
	match := func(f *Function) (FunctionURL, bool) {
		if u, ok := f.URLs[ix.Qualifier]; ok && u.ID == id {
			return *u, true
		}
		return FunctionURL{}, false
	}
	if f, err := c.Get(ctx, ix.Account, ix.Name); err == nil {
		if u, ok := match(f); ok {
			return f, ix.Qualifier, u, nil
		}
	}
	// The cache may lag another node's write: ask the store before
	// deciding that the index is stale.
	f, err := c.load(ctx, ix.Account, ix.Name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, "", FunctionURL{}, err
	}
	if err == nil {
		if u, ok := match(f); ok {
			return f, ix.Qualifier, u, nil
		}
	}
	c.cache.dropURLIndex(id)
	if err := c.kv.Delete(ctx, urlKey(id), rev); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		c.log.Warn("catalog: dropping a stale function URL index", "id", id, "err", err)
	}
	return nil, "", FunctionURL{}, urlNotFound()
}

// dropURLIndex removes the index records of a deleted function's URLs.
func (c *Catalog) dropURLIndex(ctx context.Context, f *Function) {
	for _, u := range f.URLs {
		if err := c.kv.Delete(ctx, urlKey(u.ID), 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.log.Warn("catalog: leftover function URL index", "id", u.ID, "err", err)
		}
	}
}

func urlNotFound() error {
	return fmt.Errorf("%w: The resource you requested does not exist.", ErrNotFound)
}
