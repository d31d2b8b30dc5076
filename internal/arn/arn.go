// Package arn parses and builds the identifiers Lambda accepts for a
// function: the FunctionName parameter in its four forms, function ARNs for
// the tagging APIs, qualifiers (versions and aliases), execution-role ARNs
// and account IDs.
//
// The accepted grammar follows the public Lambda API model. Every parse
// error wraps ErrInvalid and carries a reason meant to be shown to the
// caller in an InvalidParameterValueException message.
package arn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every parse error in this package.
var ErrInvalid = errors.New("arn: invalid")

// Length limits from the Lambda API model.
const (
	maxFunctionName = 64  // bare function name
	maxAlias        = 128 // alias name
	maxInput        = 140 // whole FunctionName parameter, in any form
	maxRoleName     = 64  // IAM role name (last path element)
	maxRolePath     = 512 // IAM role path including slashes
	latest          = "$LATEST"
	defaultPart     = "aws"
)

// FunctionRef is a parsed FunctionName. Fields that the input did not
// carry are empty: a bare "name" yields only Name.
type FunctionRef struct {
	Partition string
	Region    string
	Account   string
	Name      string
	Qualifier string
}

// ParseFunctionName parses Lambda's FunctionName parameter. It accepts
// exactly these forms:
//
//	name
//	name:qualifier
//	ACCOUNT:function:name[:qualifier]
//	arn:PARTITION:lambda:REGION:ACCOUNT:function:name[:qualifier]
func ParseFunctionName(s string) (FunctionRef, error) {
	if s == "" {
		return FunctionRef{}, invalid("function name must not be empty")
	}
	if len(s) > maxInput {
		return FunctionRef{}, invalid("function name must be at most %d characters, got %d", maxInput, len(s))
	}
	if strings.HasPrefix(s, "arn:") {
		return parseFullARN(s)
	}
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1, 2:
		ref := FunctionRef{Name: parts[0]}
		if len(parts) == 2 {
			ref.Qualifier = parts[1]
		}
		return checkNameQualifier(ref, len(parts) == 2)
	case 3, 4:
		if parts[1] != "function" {
			return FunctionRef{}, invalid("function name %q: expected ACCOUNT:function:NAME, got resource type %q", s, parts[1])
		}
		if !ValidAccountID(parts[0]) {
			return FunctionRef{}, invalid("function name %q: account ID %q must be 12 digits", s, parts[0])
		}
		ref := FunctionRef{Account: parts[0], Name: parts[2]}
		if len(parts) == 4 {
			ref.Qualifier = parts[3]
		}
		return checkNameQualifier(ref, len(parts) == 4)
	default:
		return FunctionRef{}, invalid("function name %q is not a name, NAME:QUALIFIER, ACCOUNT:function:NAME or a function ARN", s)
	}
}

// ParseFunctionARN parses a full function ARN,
// arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER], as the
// tagging APIs take it. Short forms are rejected.
func ParseFunctionARN(s string) (FunctionRef, error) {
	if s == "" {
		return FunctionRef{}, invalid("ARN must not be empty")
	}
	if len(s) > maxInput {
		return FunctionRef{}, invalid("ARN must be at most %d characters, got %d", maxInput, len(s))
	}
	if !strings.HasPrefix(s, "arn:") {
		return FunctionRef{}, invalid("%q is not an ARN: it must start with \"arn:\"", s)
	}
	return parseFullARN(s)
}

// parseFullARN parses s, which starts with "arn:" and has a checked length.
func parseFullARN(s string) (FunctionRef, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 7 && len(parts) != 8 {
		return FunctionRef{}, invalid("ARN %q must look like arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]", s)
	}
	if !validPartition(parts[1]) {
		return FunctionRef{}, invalid("ARN %q: partition %q must be aws or start with aws-", s, parts[1])
	}
	if parts[2] != "lambda" {
		return FunctionRef{}, invalid("ARN %q: service must be lambda, got %q", s, parts[2])
	}
	if !validRegion(parts[3]) {
		return FunctionRef{}, invalid("ARN %q: region %q must be non-empty lowercase letters, digits and hyphens", s, parts[3])
	}
	if !ValidAccountID(parts[4]) {
		return FunctionRef{}, invalid("ARN %q: account ID %q must be 12 digits", s, parts[4])
	}
	if parts[5] != "function" {
		return FunctionRef{}, invalid("ARN %q: resource type must be function, got %q", s, parts[5])
	}
	ref := FunctionRef{Partition: parts[1], Region: parts[3], Account: parts[4], Name: parts[6]}
	if len(parts) == 8 {
		ref.Qualifier = parts[7]
	}
	return checkNameQualifier(ref, len(parts) == 8)
}

// checkNameQualifier validates ref.Name and, when hasQual, ref.Qualifier
// (which is then empty only by mistake, e.g. a trailing colon). It returns
// ref, or the zero FunctionRef and the reason it is invalid.
func checkNameQualifier(ref FunctionRef, hasQual bool) (FunctionRef, error) {
	if !ValidFunctionName(ref.Name) {
		if ref.Name == "" {
			return FunctionRef{}, invalid("function name must not be empty")
		}
		return FunctionRef{}, invalid("function name %q must be 1 to %d letters, digits, hyphens or underscores", ref.Name, maxFunctionName)
	}
	if hasQual && !ValidQualifier(ref.Qualifier) {
		if ref.Qualifier == "" {
			return FunctionRef{}, invalid("qualifier after %q must not be empty", ref.Name+":")
		}
		return FunctionRef{}, invalid("qualifier %q must be $LATEST, a version number or an alias name (1 to %d letters, digits, hyphens or underscores, not all digits)", ref.Qualifier, maxAlias)
	}
	return ref, nil
}

// ValidFunctionName reports whether name is a bare function name: 1 to 64
// of [a-zA-Z0-9-_].
func ValidFunctionName(name string) bool {
	return len(name) >= 1 && len(name) <= maxFunctionName && allWordChars(name)
}

// ValidAliasName reports whether name can name an alias: 1 to 128 of
// [a-zA-Z0-9-_], not all digits (those are versions).
func ValidAliasName(name string) bool {
	return len(name) >= 1 && len(name) <= maxAlias && allWordChars(name) && !allDigits(name)
}

// ValidQualifier reports whether q is "$LATEST", a version number or an
// alias name.
func ValidQualifier(q string) bool {
	return q == latest || IsVersion(q) || ValidAliasName(q)
}

// IsVersion reports whether q is a published version number: decimal, no
// leading zero, at least 1 (Lambda numbers versions from 1) and within
// int64.
func IsVersion(q string) bool {
	if q == "" || q[0] == '0' || !allDigits(q) {
		return false
	}
	_, err := strconv.ParseInt(q, 10, 64)
	return err == nil
}

// FunctionARN builds arn:aws:lambda:REGION:ACCOUNT:function:NAME, with
// ":QUALIFIER" appended when qualifier is not empty. It does not validate.
func FunctionARN(region, account, name, qualifier string) string {
	s := "arn:" + defaultPart + ":lambda:" + region + ":" + account + ":function:" + name
	if qualifier != "" {
		s += ":" + qualifier
	}
	return s
}

// ValidRoleARN reports whether s is an IAM role ARN,
// arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME, with a 12-digit account,
// path and name drawn from [a-zA-Z0-9+=,.@_/-] and a name of 1 to 64
// characters.
func ValidRoleARN(s string) bool {
	rest, ok := strings.CutPrefix(s, "arn:")
	if !ok {
		return false
	}
	part, rest, ok := strings.Cut(rest, ":")
	if !ok || !validPartition(part) {
		return false
	}
	rest, ok = strings.CutPrefix(rest, "iam::")
	if !ok {
		return false
	}
	account, rest, ok := strings.Cut(rest, ":")
	if !ok || !ValidAccountID(account) {
		return false
	}
	rest, ok = strings.CutPrefix(rest, "role/")
	if !ok {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !isRoleChar(rest[i]) {
			return false
		}
	}
	name := rest[strings.LastIndexByte(rest, '/')+1:]
	path := rest[:len(rest)-len(name)]
	return len(name) >= 1 && len(name) <= maxRoleName && len(path) <= maxRolePath
}

// ValidAccountID reports whether s is exactly 12 decimal digits.
func ValidAccountID(s string) bool {
	return len(s) == 12 && allDigits(s)
}

// validPartition accepts "aws" followed by [a-z-]*, e.g. aws-cn, aws-us-gov.
func validPartition(p string) bool {
	rest, ok := strings.CutPrefix(p, "aws")
	if !ok {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// validRegion accepts [a-z0-9-]+. AWS regions (us-east-1, us-gov-west-1)
// are a subset; ember regions are free-form, such as "local".
func validRegion(r string) bool {
	if r == "" {
		return false
	}
	for i := 0; i < len(r); i++ {
		if c := r[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func allWordChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func isRoleChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("+=,.@-_/", c) >= 0
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
