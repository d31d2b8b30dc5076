package e2e

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestAuthErrors checks the SigV4 failure shapes.
func TestAuthErrors(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	acct := newAccount(t, shared, "e2e-auth")

	wrongSecret := acct
	wrongSecret.SecretAccessKey = "0" + acct.SecretAccessKey[1:]
	if wrongSecret.SecretAccessKey == acct.SecretAccessKey {
		wrongSecret.SecretAccessKey = "1" + acct.SecretAccessKey[1:]
	}
	_, err := lambdaClient(shared, wrongSecret).ListFunctions(ctx, &lambda.ListFunctionsInput{})
	wantErr(t, err, "InvalidSignatureException", 403, "ListFunctions with a wrong secret")

	unknown := creds{AccessKeyId: "AKIAEMBERUNKNOWN0000", SecretAccessKey: "x"}
	_, err = lambdaClient(shared, unknown).ListFunctions(ctx, &lambda.ListFunctionsInput{})
	wantErr(t, err, "UnrecognizedClientException", 403, "ListFunctions with an unknown access key")

	// The right key works, signed for any region.
	for _, region := range []string{"local", "us-east-1", "eu-west-3"} {
		r := signedRequest(t, shared, acct, "GET", "/2015-03-31/functions", nil, region, time.Time{})
		if r.status != 200 {
			t.Errorf("signed GET /2015-03-31/functions (region %s): %v", region, r)
			continue
		}
		if r.header.Get("X-Amzn-Requestid") == "" {
			t.Errorf("signed GET /2015-03-31/functions: no x-amzn-RequestId")
		}
		var body struct{ Functions []any }
		if err := json.Unmarshal(r.body, &body); err != nil || body.Functions == nil && !bytes.Contains(r.body, []byte(`"Functions"`)) {
			t.Errorf("ListFunctions body: %v %s", err, r.body)
		}
	}

	// Unsigned.
	r := unsignedRequest(t, shared, "GET", "/2015-03-31/functions", nil)
	wantJSONError(t, r, 403, "unsigned GET /2015-03-31/functions")

	// Garbage Authorization header.
	req, _ := http.NewRequest("GET", shared.endpoint+"/2015-03-31/functions", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage")
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	r = doRaw(t, req)
	wantJSONError(t, r, 0, "garbage Authorization header")
	if r.status != 400 && r.status != 403 {
		t.Errorf("garbage Authorization header: status %d, want 400 or 403", r.status)
	}

	// Outside the 15-minute window, either way.
	for _, skew := range []time.Duration{-20 * time.Minute, 20 * time.Minute} {
		r := signedRequest(t, shared, acct, "GET", "/2015-03-31/functions", nil, "local", time.Now().Add(skew))
		et := wantJSONError(t, r, 403, "request signed "+skew.String()+" off")
		t.Logf("skewed signature (%v) → %s", skew, et)
	}

	// The signature must cover the body: sign one body, send another.
	signed := []byte(`{"FunctionName":"good"}`)
	sent := []byte(`{"FunctionName":"evil"}`)
	req, _ = http.NewRequest("POST", shared.endpoint+"/2015-03-31/functions", bytes.NewReader(sent))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(signed)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: acct.AccessKeyId, SecretAccessKey: acct.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "lambda", "local", time.Now()); err != nil {
		t.Fatal(err)
	}
	r = doRaw(t, req)
	if et := wantJSONError(t, r, 403, "body differing from the signed payload hash"); et != "InvalidSignatureException" {
		t.Errorf("body differing from the signed payload hash: error type %q, want InvalidSignatureException", et)
	}

	// A signed X-Amz-Content-Sha256 header that does not match the body is refused.
	req, _ = http.NewRequest("POST", shared.endpoint+"/2015-03-31/functions", bytes.NewReader(sent))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: acct.AccessKeyId, SecretAccessKey: acct.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "lambda", "local", time.Now()); err != nil {
		t.Fatal(err)
	}
	r = doRaw(t, req)
	wantJSONError(t, r, 403, "X-Amz-Content-Sha256 header differing from the body")

	// A signature scoped to another service is refused.
	req, _ = http.NewRequest("GET", shared.endpoint+"/2015-03-31/functions", nil)
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: acct.AccessKeyId, SecretAccessKey: acct.SecretAccessKey},
		req, hex.EncodeToString(empty[:]), "s3", "local", time.Now()); err != nil {
		t.Fatal(err)
	}
	r = doRaw(t, req)
	wantJSONError(t, r, 403, "signature scoped to service s3")

	// Request ids differ.
	r1 := signedRequest(t, shared, acct, "GET", "/2015-03-31/functions", nil, "local", time.Time{})
	r2 := signedRequest(t, shared, acct, "GET", "/2015-03-31/functions", nil, "local", time.Time{})
	if id := r1.header.Get("X-Amzn-Requestid"); id == "" || id == r2.header.Get("X-Amzn-Requestid") {
		t.Errorf("request ids %q and %q should be present and distinct", id, r2.header.Get("X-Amzn-Requestid"))
	}
}

// TestBadRequests checks malformed requests and invalid parameters.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	acct := newAccount(t, shared, "e2e-badreq")
	c := lambdaClient(shared, acct)

	// Unknown routes and methods, signed and unsigned, answer in the Lambda JSON shape.
	for _, rt := range []struct{ method, path string }{
		{"GET", "/2015-03-31/nothing-here"},
		{"GET", "/no/such/route"},
		{"PATCH", "/2015-03-31/functions"},
		{"DELETE", "/2015-03-31/functions"},
	} {
		r := signedRequest(t, shared, acct, rt.method, rt.path, nil, "local", time.Time{})
		et := wantJSONError(t, r, 0, "signed "+rt.method+" "+rt.path)
		if r.status != 404 && r.status != 405 && r.status != 400 {
			t.Errorf("signed %s %s: status %d, want 404/405/400", rt.method, rt.path, r.status)
		}
		t.Logf("signed %s %s → %d %s", rt.method, rt.path, r.status, et)
		r = unsignedRequest(t, shared, rt.method, rt.path, nil)
		wantJSONError(t, r, 0, "unsigned "+rt.method+" "+rt.path)
	}

	// Invalid JSON.
	r := signedRequest(t, shared, acct, "POST", "/2015-03-31/functions", []byte(`{"FunctionName": "x", `), "local", time.Time{})
	if et := wantJSONError(t, r, 400, "CreateFunction with invalid JSON"); et != "InvalidRequestContentException" && et != "InvalidParameterValueException" {
		t.Errorf("CreateFunction with invalid JSON: error type %q, want InvalidRequestContentException", et)
	}
	r = signedRequest(t, shared, acct, "POST", "/2015-03-31/functions", []byte(`["not","an","object"]`), "local", time.Time{})
	wantJSONError(t, r, 400, "CreateFunction with a JSON array body")
	r = signedRequest(t, shared, acct, "PUT", "/2015-03-31/functions/x/configuration", []byte(`{"MemorySize":"lots"}`), "local", time.Time{})
	if r.status != 400 && r.status != 404 {
		t.Errorf("UpdateFunctionConfiguration with a string MemorySize: %v", r)
	}
	wantJSONError(t, r, 0, "UpdateFunctionConfiguration with a string MemorySize")

	good := func() *lambda.CreateFunctionInput {
		return &lambda.CreateFunctionInput{
			FunctionName: aws.String("good"), Role: aws.String(testRole), Runtime: types.RuntimePython312,
			Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: pyZip(t, "bad")},
		}
	}
	for _, tc := range []struct {
		what  string
		edit  func(*lambda.CreateFunctionInput)
		codes []string
	}{
		{"Role not an ARN", func(in *lambda.CreateFunctionInput) { in.Role = aws.String("lambda-role") }, []string{"InvalidParameterValueException"}},
		{"Role of another service", func(in *lambda.CreateFunctionInput) { in.Role = aws.String("arn:aws:s3:::bucket") }, []string{"InvalidParameterValueException", "ValidationException"}},
		{"name with bad characters", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String("bad name!") }, []string{"InvalidParameterValueException", "ValidationException"}},
		{"name with a slash", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String("a/b") }, []string{"InvalidParameterValueException", "ValidationException"}},
		{"name of 65 characters", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String(strings.Repeat("n", 65)) }, []string{"InvalidParameterValueException", "ValidationException"}},
		{"no Runtime for a zip", func(in *lambda.CreateFunctionInput) { in.Runtime = "" }, []string{"InvalidParameterValueException"}},
		{"unknown Runtime", func(in *lambda.CreateFunctionInput) { in.Runtime = "cobol85" }, []string{"InvalidParameterValueException", "ValidationException"}},
		{"MemorySize 64", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(64) }, []string{"InvalidParameterValueException", "ValidationException"}},
		{"Timeout 0", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(0) }, []string{"InvalidParameterValueException", "ValidationException"}},
		{"Timeout 901", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(901) }, []string{"InvalidParameterValueException", "ValidationException"}},
		{"no code", func(in *lambda.CreateFunctionInput) { in.Code = &types.FunctionCode{} }, []string{"InvalidParameterValueException", "ValidationException"}},
	} {
		in := good()
		tc.edit(in)
		_, err := c.CreateFunction(ctx, in)
		wantErrOneOf(t, err, "CreateFunction with "+tc.what, tc.codes...)
		if _, st := apiErr(err); err != nil && st != 400 {
			t.Errorf("CreateFunction with %s: HTTP %d, want 400", tc.what, st)
		}
	}
	fl, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil {
		t.Fatalf("ListFunctions: %v", err)
	}
	if len(fl.Functions) != 0 {
		t.Errorf("rejected CreateFunction calls left %d functions behind (first %s)", len(fl.Functions), str(fl.Functions[0].FunctionName))
	}
	// A missing function by each name form is a 404, and a malformed ARN is a 400.
	for _, fn := range []string{"missing", "missing:1", acct.AccountId + ":function:missing", "arn:aws:lambda:local:" + acct.AccountId + ":function:missing"} {
		_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(fn)})
		wantErr(t, err, "ResourceNotFoundException", 404, "GetFunction "+fn)
	}
	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:local:12:function:x")})
	if _, st := apiErr(err); err == nil || st != 400 && st != 404 {
		t.Errorf("GetFunction with a malformed ARN: %v, want 400 (or 404)", err)
	}
}

// ---- hostile bundles ----

var (
	bombOnce           sync.Once
	bombZip, lyingBomb []byte
	manyEntries        []byte
	manyEntriesOnce    sync.Once
)

// zeroBombs builds, streaming, a zip with one 300 MiB entry of zeros and one whose
// headers understate that size.
func zeroBombs(t *testing.T) ([]byte, []byte) {
	bombOnce.Do(func() {
		const size = 300 << 20
		zeros := make([]byte, 1<<20)
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(w, flate.BestCompression)
		})
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "zeros.bin", Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		for written := 0; written < size; written += len(zeros) {
			if _, err := w.Write(zeros); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		bombZip = buf.Bytes()

		// The same stream, declared as 1 KiB: the validator has to count what it inflates.
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		crc := crc32.NewIEEE()
		for written := 0; written < size; written += len(zeros) {
			fw.Write(zeros)
			crc.Write(zeros)
		}
		fw.Close()
		var lb bytes.Buffer
		lz := zip.NewWriter(&lb)
		hdr := &zip.FileHeader{Name: "small.bin", Method: zip.Deflate, CRC32: crc.Sum32(),
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: 1024}
		rw, err := lz.CreateRaw(hdr)
		if err != nil {
			t.Fatal(err)
		}
		rw.Write(comp.Bytes())
		if err := lz.Close(); err != nil {
			t.Fatal(err)
		}
		lyingBomb = lb.Bytes()
	})
	return bombZip, lyingBomb
}

func tenThousandEntries(t *testing.T) []byte {
	manyEntriesOnce.Do(func() {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		// 10,001: over a limit of 10,000 whether or not the limit is inclusive.
		for i := range 10001 {
			if _, err := zw.CreateHeader(&zip.FileHeader{Name: "f/" + strconv.Itoa(i), Method: zip.Store}); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		manyEntries = buf.Bytes()
	})
	return manyEntries
}

var (
	threeOnce sync.Once
	threeZip  []byte
)

// threeEntries is three entries of 100 MiB of zeros each: none is over the limit alone.
func threeEntries(t *testing.T) []byte {
	threeOnce.Do(func() {
		zeros := make([]byte, 1<<20)
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i := range 3 {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: "part" + strconv.Itoa(i), Method: zip.Deflate})
			if err != nil {
				t.Fatal(err)
			}
			for range 100 {
				w.Write(zeros)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		threeZip = buf.Bytes()
	})
	return threeZip
}

type hostile struct {
	what string
	zip  []byte
}

func hostileZips(t *testing.T) []hostile {
	handler := zipEntry{name: "handler.py", body: "def main(e, c):\n    return 1\n"}
	bomb, lying := zeroBombs(t)
	return []hostile{
		{"zip-slip ../../evil", makeZip(t, handler, zipEntry{name: "../../evil", body: "x"})},
		{"zip-slip inside a directory a/../../evil", makeZip(t, handler, zipEntry{name: "a/../../evil", body: "x"})},
		{"absolute path /etc/evil", makeZip(t, handler, zipEntry{name: "/etc/evil", body: "x"})},
		{"symlink to /etc/passwd", makeZip(t, handler, zipEntry{name: "passwd", body: "/etc/passwd", mode: os.ModeSymlink | 0o777})},
		{"relative symlink out of the bundle", makeZip(t, handler, zipEntry{name: "lib/up", body: "../../../etc", mode: os.ModeSymlink | 0o777})},
		{"symlink reached through another symlink", makeZip(t, handler,
			zipEntry{name: "x/l1", body: "..", mode: os.ModeSymlink | 0o777},
			zipEntry{name: "x/l1/l2", body: "..", mode: os.ModeSymlink | 0o777},
			zipEntry{name: "x/l1/l2/evil", body: "x"})},
		{"character device", makeZip(t, handler, zipEntry{name: "tty", mode: os.ModeDevice | os.ModeCharDevice | 0o666})},
		{"10,001 entries", tenThousandEntries(t)},
		{"zip bomb (300 MiB of zeros)", bomb},
		{"zip bomb with understated size", lying},
		{"three 100 MiB entries (300 MiB unzipped in total)", threeEntries(t)},
		{"not a zip", []byte("this is not a zip file, just some bytes\n")},
		{"truncated zip", pyZip(t, "truncated")[:40]},
	}
}

// TestHostileBundles checks that bad bundles are rejected with
// InvalidParameterValueException and leave nothing behind, on create and on update.
func TestHostileBundles(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	acct := newAccount(t, shared, "e2e-hostile")
	c := lambdaClient(shared, acct)

	good := pyZip(t, "victim")
	victim, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("victim"), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: good},
	})
	if err != nil {
		t.Fatalf("CreateFunction victim: %v", err)
	}
	names := func() []string {
		t.Helper()
		out, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
		if err != nil {
			t.Fatalf("ListFunctions: %v", err)
		}
		var ns []string
		for _, f := range out.Functions {
			ns = append(ns, str(f.FunctionName))
		}
		return ns
	}
	before := names()
	settingsBefore, err := c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		t.Fatalf("GetAccountSettings: %v", err)
	}

	for i, h := range hostileZips(t) {
		name := "hostile-" + strconv.Itoa(i)
		_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: types.RuntimePython312,
			Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: h.zip},
		})
		wantErr(t, err, "InvalidParameterValueException", 400, "CreateFunction with "+h.what)
		t.Logf("%s (%d bytes) → %v", h.what, len(h.zip), err)
		_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		wantErr(t, err, "ResourceNotFoundException", 404, "GetFunction after rejected CreateFunction with "+h.what)

		_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("victim"), ZipFile: h.zip})
		wantErr(t, err, "InvalidParameterValueException", 400, "UpdateFunctionCode with "+h.what)
		_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("victim"), ZipFile: h.zip, Publish: true})
		wantErr(t, err, "InvalidParameterValueException", 400, "UpdateFunctionCode Publish with "+h.what)
	}
	if got := names(); !slices.Equal(got, before) {
		t.Errorf("ListFunctions changed by rejected bundles: %v, before %v", got, before)
	}
	cfg, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("victim")})
	if err != nil {
		t.Fatalf("GetFunction victim: %v", err)
	}
	if str(cfg.Configuration.CodeSha256) != sha256b64(good) || str(cfg.Configuration.RevisionId) != str(victim.RevisionId) ||
		cfg.Configuration.CodeSize != int64(len(good)) {
		t.Errorf("rejected UpdateFunctionCode changed the function: sha %s rev %s size %d", str(cfg.Configuration.CodeSha256), str(cfg.Configuration.RevisionId), cfg.Configuration.CodeSize)
	}
	if cfg.Code != nil && cfg.Code.Location != nil {
		checkCodeLocation(t, *cfg.Code.Location, good)
	}
	if got := listVersions(t, c, "victim"); !slices.Equal(got, []string{"$LATEST"}) {
		t.Errorf("rejected UpdateFunctionCode with Publish created versions: %v", got)
	}
	settingsAfter, err := c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		t.Fatalf("GetAccountSettings: %v", err)
	}
	if settingsBefore.AccountUsage != nil && settingsAfter.AccountUsage != nil &&
		settingsAfter.AccountUsage.TotalCodeSize != settingsBefore.AccountUsage.TotalCodeSize {
		t.Errorf("AccountUsage.TotalCodeSize changed from %d to %d by rejected bundles", settingsBefore.AccountUsage.TotalCodeSize, settingsAfter.AccountUsage.TotalCodeSize)
	}

	// Over 50 MB zipped (incompressible): refused as too large, nothing stored.
	big := make([]byte, 51<<20)
	rand.Read(big)
	bigZip := makeZip(t, zipEntry{name: "handler.py", body: "def main(e, c):\n    return 1\n"}, zipEntry{name: "blob", body: string(big)})
	big = nil
	_, err = c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("too-big"), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: bigZip},
	})
	wantErrOneOf(t, err, "CreateFunction with a 51 MB zip", "InvalidParameterValueException", "RequestTooLargeException", "RequestEntityTooLargeException")
	t.Logf("51 MB zip → %v", err)
	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("too-big")})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetFunction after a rejected 51 MB zip")
	bigZip = nil

	// What is not hostile is accepted: directories and a symlink that stays inside.
	benign := makeZip(t,
		zipEntry{name: "lib/", mode: os.ModeDir | 0o755},
		zipEntry{name: "lib/real.txt", body: "hello"},
		zipEntry{name: "lib/link.txt", body: "real.txt", mode: os.ModeSymlink | 0o777},
		zipEntry{name: "handler.py", body: "def main(e, c):\n    return 1\n"},
	)
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("benign"), Role: aws.String(testRole), Runtime: types.RuntimePython312,
		Handler: aws.String("handler.main"), Code: &types.FunctionCode{ZipFile: benign},
	}); err != nil {
		t.Errorf("CreateFunction with directories and an internal symlink: %v", err)
	}

	// The server survived all of it.
	resp, err := http.Get(shared.endpoint + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/health after hostile bundles: %v %v", err, resp)
	}
	resp.Body.Close()
}
