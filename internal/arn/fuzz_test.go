package arn

import (
	"errors"
	"testing"
)

func FuzzParseFunctionName(f *testing.F) {
	for _, s := range []string{
		"fn", "fn:$LATEST", "fn:1", "fn:prod",
		"123456789012:function:fn", "123456789012:function:fn:2",
		"arn:aws:lambda:us-east-1:123456789012:function:fn",
		"arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:fn:alias",
		"arn:aws:lambda:local:000000000000:layer:x", "fn:", "::", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseFunctionName(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseFunctionName(%q): error %v does not wrap ErrInvalid", s, err)
			}
			if ref != (FunctionRef{}) {
				t.Fatalf("ParseFunctionName(%q): non-zero ref %+v with error", s, ref)
			}
			return
		}
		// Every field that is set must re-validate on its own.
		if !ValidFunctionName(ref.Name) {
			t.Fatalf("ParseFunctionName(%q): invalid name in %+v", s, ref)
		}
		if ref.Qualifier != "" && !ValidQualifier(ref.Qualifier) {
			t.Fatalf("ParseFunctionName(%q): invalid qualifier in %+v", s, ref)
		}
		if ref.Account != "" && !ValidAccountID(ref.Account) {
			t.Fatalf("ParseFunctionName(%q): invalid account in %+v", s, ref)
		}
		if (ref.Partition == "") != (ref.Region == "") {
			t.Fatalf("ParseFunctionName(%q): partition and region must come together: %+v", s, ref)
		}
		if ref.Region != "" && ref.Account == "" {
			t.Fatalf("ParseFunctionName(%q): region without account: %+v", s, ref)
		}

		// Filling in what the input left out must give an ARN that parses
		// back to the same ref. An ARN parsed from a full ARN is never
		// longer than its input, so it always fits; short forms filled with
		// defaults may exceed Lambda's 140-character limit, as in Lambda.
		full := ref
		full.Partition = "aws"
		if full.Region == "" {
			full.Region = "local"
		}
		if full.Account == "" {
			full.Account = "000000000000"
		}
		a := FunctionARN(full.Region, full.Account, full.Name, full.Qualifier)
		if ref.Region == "" && len(a) > maxInput {
			return
		}
		back, err := ParseFunctionName(a)
		if err != nil {
			t.Fatalf("ParseFunctionName(%q) = %+v; ARN %q does not parse: %v", s, ref, a, err)
		}
		if back != full {
			t.Fatalf("ParseFunctionName(%q) = %+v; ARN %q parses to %+v, want %+v", s, ref, a, back, full)
		}
		if back2, err := ParseFunctionARN(a); err != nil || back2 != full {
			t.Fatalf("ParseFunctionARN(%q) = %+v, %v; want %+v", a, back2, err, full)
		}
	})
}
