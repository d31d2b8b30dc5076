package arn

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFunctionName(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		in      string
		want    FunctionRef
		wantErr string // substring of the reason; empty means success
	}{
		{in: "my-function", want: FunctionRef{Name: "my-function"}},
		{in: "my_fn:$LATEST", want: FunctionRef{Name: "my_fn", Qualifier: "$LATEST"}},
		{in: "fn:7", want: FunctionRef{Name: "fn", Qualifier: "7"}},
		{in: "fn:prod", want: FunctionRef{Name: "fn", Qualifier: "prod"}},
		{in: "fn:v1-blue_2", want: FunctionRef{Name: "fn", Qualifier: "v1-blue_2"}},
		{in: "function:name", want: FunctionRef{Name: "function", Qualifier: "name"}},
		{in: "123456789012:function:fn", want: FunctionRef{Account: "123456789012", Name: "fn"}},
		{in: "123456789012:function:fn:live", want: FunctionRef{Account: "123456789012", Name: "fn", Qualifier: "live"}},
		{
			in:   "arn:aws:lambda:us-east-1:123456789012:function:fn",
			want: FunctionRef{Partition: "aws", Region: "us-east-1", Account: "123456789012", Name: "fn"},
		},
		{
			in:   "arn:aws:lambda:local:000000000000:function:fn:$LATEST",
			want: FunctionRef{Partition: "aws", Region: "local", Account: "000000000000", Name: "fn", Qualifier: "$LATEST"},
		},
		{
			in:   "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:fn:3",
			want: FunctionRef{Partition: "aws-us-gov", Region: "us-gov-west-1", Account: "123456789012", Name: "fn", Qualifier: "3"},
		},
		{
			in:   "arn:aws-cn:lambda:cn-north-1:123456789012:function:fn",
			want: FunctionRef{Partition: "aws-cn", Region: "cn-north-1", Account: "123456789012", Name: "fn"},
		},
		{in: long(64), want: FunctionRef{Name: long(64)}},
		{in: "fn:" + long(128), want: FunctionRef{Name: "fn", Qualifier: long(128)}},

		{in: "", wantErr: "must not be empty"},
		{in: long(65), wantErr: "1 to 64"},
		{in: long(141), wantErr: "at most 140"},
		{in: "fn:" + long(129), wantErr: "qualifier"},
		{in: "my fn", wantErr: "letters, digits"},
		{in: "fn.js", wantErr: "letters, digits"},
		{in: "fn/x", wantErr: "letters, digits"},
		{in: "fn:", wantErr: "qualifier after \"fn:\" must not be empty"},
		{in: ":q", wantErr: "must not be empty"},
		{in: ":", wantErr: "must not be empty"},
		{in: "fn:0", wantErr: "qualifier"},
		{in: "fn:01", wantErr: "qualifier"},
		{in: "fn:99999999999999999999", wantErr: "qualifier"},
		{in: "fn:$latest", wantErr: "qualifier"},
		{in: "fn:a.b", wantErr: "qualifier"},
		{in: "fn:a:b:c:d", wantErr: "is not a name"},
		{in: "123456789012:layer:fn", wantErr: "resource type \"layer\""},
		{in: "12345678901:function:fn", wantErr: "account ID"},
		{in: "12345678901a:function:fn", wantErr: "account ID"},
		{in: "123456789012:function:", wantErr: "must not be empty"},
		{in: "123456789012:function:fn:", wantErr: "qualifier after"},
		{in: "arn:aws:lambda:us-east-1:123456789012:layer:x", wantErr: "resource type must be function"},
		{in: "arn:aws:s3:us-east-1:123456789012:function:fn", wantErr: "service must be lambda"},
		{in: "arn:gcp:lambda:us-east-1:123456789012:function:fn", wantErr: "partition"},
		{in: "arn:AWS:lambda:us-east-1:123456789012:function:fn", wantErr: "partition"},
		{in: "arn::lambda:us-east-1:123456789012:function:fn", wantErr: "partition"},
		{in: "arn:aws:lambda::123456789012:function:fn", wantErr: "region"},
		{in: "arn:aws:lambda:US-EAST-1:123456789012:function:fn", wantErr: "region"},
		{in: "arn:aws:lambda:us-east-1::function:fn", wantErr: "account ID"},
		{in: "arn:aws:lambda:us-east-1:1234:function:fn", wantErr: "account ID"},
		{in: "arn:aws:lambda:us-east-1:123456789012:function:", wantErr: "must not be empty"},
		{in: "arn:aws:lambda:us-east-1:123456789012:function:fn:", wantErr: "qualifier after"},
		{in: "arn:aws:lambda:us-east-1:123456789012:function:fn:a:b", wantErr: "must look like"},
		{in: "arn:aws:lambda:us-east-1:123456789012:function", wantErr: "must look like"},
		{in: "arn:aws:lambda:us-east-1:123456789012:function:fn\x00", wantErr: "letters, digits"},
		{in: "arn:aws:lambda:r:123456789012:function:" + long(102), wantErr: "at most 140"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFunctionName(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseFunctionName(%q) = %+v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFunctionName(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseFunctionName(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseFunctionARN(t *testing.T) {
	tests := []struct {
		in      string
		want    FunctionRef
		wantErr bool
	}{
		{in: "arn:aws:lambda:local:123456789012:function:fn", want: FunctionRef{Partition: "aws", Region: "local", Account: "123456789012", Name: "fn"}},
		{in: "arn:aws:lambda:local:123456789012:function:fn:prod", want: FunctionRef{Partition: "aws", Region: "local", Account: "123456789012", Name: "fn", Qualifier: "prod"}},
		{in: "fn", wantErr: true},
		{in: "fn:prod", wantErr: true},
		{in: "123456789012:function:fn", wantErr: true},
		{in: "", wantErr: true},
		{in: "arn:aws:lambda:local:123456789012:layer:fn", wantErr: true},
		{in: "arn:aws:lambda:local:123456789012:function:fn:", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFunctionARN(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseFunctionARN(%q) = %+v, %v; want ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseFunctionARN(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestQualifiers(t *testing.T) {
	tests := []struct {
		q                         string
		version, alias, qualifier bool
	}{
		{q: "$LATEST", qualifier: true},
		{q: "1", version: true, qualifier: true},
		{q: "42", version: true, qualifier: true},
		{q: "9223372036854775807", version: true, qualifier: true},
		{q: "9223372036854775808"},
		{q: "0"},
		{q: "007"},
		{q: "-1", alias: true, qualifier: true},
		{q: "prod", alias: true, qualifier: true},
		{q: "1a", alias: true, qualifier: true},
		{q: "A_b-C", alias: true, qualifier: true},
		{q: strings.Repeat("x", 128), alias: true, qualifier: true},
		{q: strings.Repeat("x", 129)},
		{q: ""},
		{q: "$latest"},
		{q: "a b"},
		{q: "a:b"},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			if got := IsVersion(tt.q); got != tt.version {
				t.Errorf("IsVersion(%q) = %v", tt.q, got)
			}
			if got := ValidAliasName(tt.q); got != tt.alias {
				t.Errorf("ValidAliasName(%q) = %v", tt.q, got)
			}
			if got := ValidQualifier(tt.q); got != tt.qualifier {
				t.Errorf("ValidQualifier(%q) = %v", tt.q, got)
			}
		})
	}
}

func TestFunctionARN(t *testing.T) {
	tests := []struct {
		region, account, name, qual, want string
	}{
		{"local", "000000000000", "fn", "", "arn:aws:lambda:local:000000000000:function:fn"},
		{"us-east-1", "123456789012", "fn", "$LATEST", "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST"},
		{"us-east-1", "123456789012", "fn", "prod", "arn:aws:lambda:us-east-1:123456789012:function:fn:prod"},
	}
	for _, tt := range tests {
		got := FunctionARN(tt.region, tt.account, tt.name, tt.qual)
		if got != tt.want {
			t.Errorf("FunctionARN(%q, %q, %q, %q) = %q, want %q", tt.region, tt.account, tt.name, tt.qual, got, tt.want)
		}
		ref, err := ParseFunctionName(got)
		want := FunctionRef{Partition: "aws", Region: tt.region, Account: tt.account, Name: tt.name, Qualifier: tt.qual}
		if err != nil || ref != want {
			t.Errorf("ParseFunctionName(%q) = %+v, %v; want %+v", got, ref, err, want)
		}
	}
}

func TestValidRoleARN(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"arn:aws:iam::123456789012:role/lambda-role", true},
		{"arn:aws:iam::123456789012:role/service-role/my+role=x,y.z@w_v-u", true},
		{"arn:aws-cn:iam::123456789012:role/r", true},
		{"arn:aws-us-gov:iam::123456789012:role/a/b/c/r", true},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("r", 64), true},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("r", 65), false},
		{"arn:aws:iam::123456789012:role/", false},
		{"arn:aws:iam::123456789012:role/path/", false},
		{"arn:aws:iam::123456789012:role/bad name", false},
		{"arn:aws:iam::123456789012:role/bad:name", false},
		{"arn:aws:iam::123456789012:user/u", false},
		{"arn:aws:iam::12345678901:role/r", false},
		{"arn:aws:iam:us-east-1:123456789012:role/r", false},
		{"arn:aws:sts::123456789012:role/r", false},
		{"arn:gcp:iam::123456789012:role/r", false},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("p/", 257) + "r", false},
		{"", false},
		{"arn:aws", false},
	}
	for _, tt := range tests {
		if got := ValidRoleARN(tt.in); got != tt.want {
			t.Errorf("ValidRoleARN(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestValidAccountID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"123456789012", true},
		{"000000000000", true},
		{"12345678901", false},
		{"1234567890123", false},
		{"12345678901a", false},
		{"", false},
		{"１23456789012", false},
	}
	for _, tt := range tests {
		if got := ValidAccountID(tt.in); got != tt.want {
			t.Errorf("ValidAccountID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestValidFunctionName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"a", true},
		{"Hello-World_1", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"a.b", false},
		{"a:b", false},
		{"é", false},
	}
	for _, tt := range tests {
		if got := ValidFunctionName(tt.in); got != tt.want {
			t.Errorf("ValidFunctionName(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
