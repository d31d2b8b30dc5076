package sigv4_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/sigv4"
)

// botocoreScript signs a POST with botocore's SigV4Auth, the signer of the
// AWS CLI and boto3, and sends it with urllib.
const botocoreScript = `
import sys, urllib.request, urllib.error
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

url, key, secret, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
req = AWSRequest(method="POST", url=url, data=body, headers={
    "Content-Type": "application/json",
    "X-Amz-Invocation-Type": "RequestResponse",
    "X-Amz-Ember-Note": "  two  spaces\tand a tab ",
})
SigV4Auth(Credentials(key, secret), "lambda", "local").add_auth(req)
out = urllib.request.Request(url, data=body, headers=dict(req.headers.items()), method="POST")
try:
    with urllib.request.urlopen(out) as resp:
        print(resp.status)
except urllib.error.HTTPError as e:
    print(e.code)
`

func TestVerifyBotocore(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("skipping: python3 is not installed")
	}
	if err := exec.Command(python, "-c", "import botocore").Run(); err != nil {
		t.Skip("skipping: python3 has no botocore (pip install botocore)")
	}
	cases := []struct {
		name   string
		target string
		secret string
		want   error
	}{
		{name: "Invoke with ARN in path and query", target: invokePath + "?Qualifier=%24LATEST&Marker=a%2Fb"},
		// botocore removes dot segments and repeated slashes before signing;
		// aws-sdk-go-v2 does not.
		{name: "unnormalized path", target: "/2015-03-31//functions/./x/../arn%3Aaws%3Alambda%3Alocal%3A123456789012%3Afunction%3Afoo/invocations"},
		// urllib sends '|' unescaped; Go's URL.EscapedPath would re-escape it,
		// so Verify must read the path from the request line.
		{name: "path character Go re-escapes", target: "/2015-03-31/functions/foo|bar/invocations"},
		{name: "wrong secret", target: invokePath, secret: "not-the-secret", want: sigv4.ErrMismatch},
	}
	v := newVerifier(time.Time{})
	v.Now = time.Now // botocore signs with the current time
	srv := newVerifyServer(t, v)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret := testSecret
			if tc.secret != "" {
				secret = tc.secret
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, "-c", botocoreScript, srv.URL+tc.target, testKey, secret, `{"hello":"world"}`)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("python: %v\n%s", err, out)
			}
			select {
			case o := <-srv.got:
				checkErr(t, o.err, tc.want)
				if tc.want == nil && o.res.AccessKeyID != testKey {
					t.Errorf("Result = %+v", o.res)
				}
			default:
				t.Fatalf("the server got no request; python said:\n%s", out)
			}
		})
	}
}
