package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEmberDeployInvokeLogs drives the ember CLI conveniences: deploy a
// directory, invoke with the log tail, redeploy, and read the stored logs.
func TestEmberDeployInvokeLogs(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "cli-deploy")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.py"), []byte("def main(event, context):\n    print('deployed v1 says', event.get('x'))\n    return {'v': 1, 'x': event.get('x')}\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	os.WriteFile(filepath.Join(dir, "lib", "data.txt"), []byte("data"), 0o644)
	ep := []string{"--endpoint", shared.endpoint}

	out, errOut, code := emberCLI(t, c, nil, append([]string{"deploy", "clifn", dir, "--runtime", "python3.12", "--handler", "app.main", "--memory", "256"}, ep...)...)
	if code != 0 {
		t.Fatalf("deploy: %d %s %s", code, out, errOut)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(out), &cfg); err != nil || cfg["State"] != "Active" || cfg["MemorySize"].(float64) != 256 {
		t.Fatalf("deploy output: %v %s", err, out)
	}
	out, errOut, code = emberCLI(t, c, nil, append([]string{"invoke", "clifn", `{"x":41}`, "--tail"}, ep...)...)
	if code != 0 || !strings.Contains(out, `"x": 41`) || !strings.Contains(errOut, "deployed v1 says 41") || !strings.Contains(errOut, "REPORT RequestId") {
		t.Fatalf("invoke: %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	// Redeploy new code: the next invoke runs it.
	os.WriteFile(filepath.Join(dir, "app.py"), []byte("def main(event, context):\n    raise RuntimeError('v2 fails')\n"), 0o644)
	if _, errOut, code := emberCLI(t, c, nil, append([]string{"deploy", "clifn", dir}, ep...)...); code != 0 {
		t.Fatalf("redeploy: %s", errOut)
	}
	out, _, code = emberCLI(t, c, nil, append([]string{"invoke", "clifn"}, ep...)...)
	if code == 0 || !strings.Contains(out, "v2 fails") {
		t.Fatalf("function error must exit non-zero and print the error: %d %s", code, out)
	}
	// Logs are stored per function and readable with ember logs.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, errOut, code = emberCLI(t, c, nil, append([]string{"logs", "clifn", "--since", "10m"}, ep...)...)
		if code == 0 && strings.Contains(out, "deployed v1 says 41") && strings.Count(out, "REPORT RequestId") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs: %d\n%s\n%s", code, out, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Another account cannot read them.
	other := newAccount(t, shared, "cli-deploy-other")
	arn := "arn:aws:lambda:local:" + c.AccountId + ":function:clifn"
	if _, errOut, code := emberCLI(t, other, nil, append([]string{"logs", arn}, ep...)...); code == 0 || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Fatalf("cross-account logs: %d %s", code, errOut)
	}
}
