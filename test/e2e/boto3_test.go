package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// boto3Script drives the control plane with boto3, the Python SDK, where it
// is installed. It prints one line per check so a failure names its step.
const boto3Script = `
import sys, time, boto3, botocore
endpoint, akid, secret, zpath = sys.argv[1:5]
c = boto3.client("lambda", endpoint_url=endpoint, region_name="local",
                 aws_access_key_id=akid, aws_secret_access_key=secret,
                 config=botocore.config.Config(retries={"max_attempts": 1}))
code = open(zpath, "rb").read()
r = c.create_function(FunctionName="boto", Runtime="python3.12", Role="arn:aws:iam::123456789012:role/r",
                      Handler="handler.main", Code={"ZipFile": code}, Environment={"Variables": {"KEY": "v"}})
assert r["State"] == "Active" and r["Version"] == "$LATEST", r
c.get_waiter("function_active_v2").wait(FunctionName="boto")
v = c.publish_version(FunctionName="boto")
assert v["Version"] == "1", v
a = c.create_alias(FunctionName="boto", Name="prod", FunctionVersion="1")
assert a["AliasArn"].endswith(":function:boto:prod"), a
names = [f["FunctionName"] for p in c.get_paginator("list_functions").paginate() for f in p["Functions"]]
assert names == ["boto"], names
cfg = c.get_function_configuration(FunctionName="boto", Qualifier="prod")
assert cfg["Version"] == "1" and cfg["Environment"]["Variables"] == {"KEY": "v"}, cfg
try:
    c.update_function_configuration(FunctionName="boto", MemorySize=256, RevisionId="stale")
    raise SystemExit("stale RevisionId accepted")
except c.exceptions.PreconditionFailedException:
    pass
c.delete_function(FunctionName="boto")
try:
    c.get_function(FunctionName="boto")
    raise SystemExit("deleted function still found")
except c.exceptions.ResourceNotFoundException as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
print("boto3-ok")
`

func TestBoto3Lifecycle(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil || exec.Command(py, "-c", "import boto3").Run() != nil {
		t.Skip("boto3 is not installed; the aws-sdk-go-v2 and AWS CLI suites cover the same API")
	}
	c := newAccount(t, shared, "boto3")
	zpath := writeTemp(t, "fn.zip", pyZip(t, "boto3"))
	script := filepath.Join(t.TempDir(), "boto3_check.py")
	if err := os.WriteFile(script, []byte(boto3Script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctxT(t), py, script, shared.endpoint, c.AccessKeyId, c.SecretAccessKey, zpath)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "boto3-ok") {
		t.Fatalf("boto3 run failed: %v\n%s", err, out)
	}
}
