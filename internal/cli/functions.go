package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func functionCmds(cf *clientFlags, stdout, stderr io.Writer) []*cobra.Command {
	return []*cobra.Command{deployCmd(cf, stdout, stderr), invokeCmd(cf, stdout, stderr), logsCmd(cf, stdout), policyCmd(cf, stdout), secretCmd(cf, stdout), usageCmd(cf, stdout), apiCmd(cf, stdout, stderr), urlCmd(cf, stdout), aliasOfCmd(cf, stdout), benchCmd(cf, stdout, stderr)}
}

type deployFlags struct {
	runtime, handler, role, description string
	memory, timeout                     int
	env                                 []string
	publish                             bool
}

func deployCmd(cf *clientFlags, stdout, stderr io.Writer) *cobra.Command {
	var df deployFlags
	cmd := &cobra.Command{
		Use:   "deploy NAME DIR",
		Short: "Zip a directory and create or update the function, then wait until it is active",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cf.client(ctx)
			if err != nil {
				return err
			}
			zipped, err := zipDir(args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "packaged %s: %s zipped\n", args[1], size(int64(len(zipped))))
			cfg, err := deploy(ctx, c, args[0], zipped, df, cmd, progressBar(stderr))
			if err != nil {
				return err
			}
			return printJSON(stdout, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&df.runtime, "runtime", "", "runtime, e.g. provided.al2023, python3.12, nodejs20.x (required to create)")
	f.StringVar(&df.handler, "handler", "", "handler, e.g. handler.main (python/node)")
	f.StringVar(&df.role, "role", "", "role ARN to record (default: a placeholder in your account)")
	f.StringVar(&df.description, "description", "", "description")
	f.IntVar(&df.memory, "memory", 0, "memory in MB (128-10240)")
	f.IntVar(&df.timeout, "timeout", 0, "timeout in seconds (1-900)")
	f.StringArrayVar(&df.env, "env", nil, "environment variable KEY=VALUE (repeatable; replaces all variables)")
	f.BoolVar(&df.publish, "publish", false, "publish a version after deploying")
	return cmd
}

func deploy(ctx context.Context, c *client, name string, zipped []byte, df deployFlags, cmd *cobra.Command, progress func(sent, total int64)) (map[string]any, error) {
	path := "/2015-03-31/functions/" + url.PathEscape(name)
	env := map[string]string{}
	for _, kv := range df.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
		env[k] = v
	}
	var existing map[string]any
	err := c.do(ctx, "GET", path+"/configuration", nil, &existing)
	var ce *clientError
	switch {
	case errors.As(err, &ce) && ce.Status == 404:
		if df.runtime == "" {
			return nil, errors.New("--runtime is required to create a function")
		}
		role := df.role
		if role == "" {
			if role, err = defaultRole(ctx, c); err != nil {
				return nil, err
			}
		}
		req := map[string]any{
			"FunctionName": name, "Runtime": df.runtime, "Handler": df.handler, "Role": role,
			"Description": df.description, "Code": map[string]any{"ZipFile": zipped}, "Publish": df.publish,
		}
		if df.memory > 0 {
			req["MemorySize"] = df.memory
		}
		if df.timeout > 0 {
			req["Timeout"] = df.timeout
		}
		if len(env) > 0 {
			req["Environment"] = map[string]any{"Variables": env}
		}
		if err := c.upload(ctx, "POST", "/2015-03-31/functions", req, progress); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if err := c.upload(ctx, "PUT", path+"/code", map[string]any{"ZipFile": zipped}, progress); err != nil {
			return nil, err
		}
		if err := waitActive(ctx, c, path); err != nil {
			return nil, err
		}
		patch := map[string]any{}
		fl := cmd.Flags()
		if fl.Changed("runtime") {
			patch["Runtime"] = df.runtime
		}
		if fl.Changed("handler") {
			patch["Handler"] = df.handler
		}
		if fl.Changed("role") {
			patch["Role"] = df.role
		}
		if fl.Changed("description") {
			patch["Description"] = df.description
		}
		if fl.Changed("memory") {
			patch["MemorySize"] = df.memory
		}
		if fl.Changed("timeout") {
			patch["Timeout"] = df.timeout
		}
		if fl.Changed("env") {
			patch["Environment"] = map[string]any{"Variables": env}
		}
		if len(patch) > 0 {
			if err := c.do(ctx, "PUT", path+"/configuration", patch, nil); err != nil {
				return nil, err
			}
		}
		if df.publish {
			if err := waitActive(ctx, c, path); err != nil {
				return nil, err
			}
			if err := c.do(ctx, "POST", path+"/versions", map[string]any{}, nil); err != nil {
				return nil, err
			}
		}
	}
	if err := waitActive(ctx, c, path); err != nil {
		return nil, err
	}
	var cfg map[string]any
	err = c.do(ctx, "GET", path+"/configuration", nil, &cfg)
	return cfg, err
}

// defaultRole is the Role given to functions created without one: ember
// has no IAM, but Lambda's API requires a role ARN in the caller's account.
func defaultRole(ctx context.Context, c *client) (string, error) {
	var me struct{ AccountId string }
	if err := c.do(ctx, "GET", "/ember/whoami", nil, &me); err != nil {
		return "", err
	}
	return "arn:aws:iam::" + me.AccountId + ":role/ember-function", nil
}

// upload sends a JSON body carrying a zip, reporting progress.
func (c *client) upload(ctx context.Context, method, path string, body any, progress func(sent, total int64)) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := c.send(ctx, method, path, map[string]string{"Content-Type": "application/json"}, data, progress)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// waitActive polls until the function is Active and its last update done,
// as the function-active-v2 and function-updated-v2 waiters do.
func waitActive(ctx context.Context, c *client, path string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var cfg struct{ State, LastUpdateStatus, StateReason string }
		if err := c.do(ctx, "GET", path+"/configuration", nil, &cfg); err != nil {
			return err
		}
		switch {
		case cfg.State == "Failed" || cfg.LastUpdateStatus == "Failed":
			return fmt.Errorf("function update failed: %s", cfg.StateReason)
		case cfg.State == "Active" && cfg.LastUpdateStatus == "Successful":
			return nil
		case time.Now().After(deadline):
			return errors.New("timed out waiting for the function to become active")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// progressBar draws an upload bar on stderr for bodies over 1 MiB.
func progressBar(w io.Writer) func(sent, total int64) {
	last := -1
	return func(sent, total int64) {
		if total < 1<<20 {
			return
		}
		pct := int(sent * 100 / total)
		if pct == last {
			return
		}
		last = pct
		bar := strings.Repeat("#", pct/4) + strings.Repeat(".", 25-pct/4)
		fmt.Fprintf(w, "\ruploading [%s] %3d%% of %s", bar, pct, size(total))
		if sent >= total {
			fmt.Fprintln(w)
		}
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// zipDir packs a directory: regular files keep their exec bit, symlinks
// stay symlinks, everything else is skipped.
func zipDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			hdr.Name += "/"
			_, err = zw.CreateHeader(hdr)
			return err
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			w, err := zw.CreateHeader(hdr)
			if err != nil {
				return err
			}
			_, err = w.Write([]byte(target))
			return err
		case info.Mode().IsRegular():
			hdr.Method = zip.Deflate
			w, err := zw.CreateHeader(hdr)
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			n++
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no files", dir)
	}
	return buf.Bytes(), nil
}

func invokeCmd(cf *clientFlags, stdout, stderr io.Writer) *cobra.Command {
	var qualifier, pol string
	var tail bool
	cmd := &cobra.Command{
		Use:   "invoke NAME [JSON]",
		Short: "Invoke a function synchronously and print its result (exit 1 on a function error)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cf.client(ctx)
			if err != nil {
				return err
			}
			payload := []byte("{}")
			if len(args) == 2 {
				payload = []byte(args[1])
				if args[1] == "-" {
					if payload, err = io.ReadAll(os.Stdin); err != nil {
						return err
					}
				}
			}
			path := "/2015-03-31/functions/" + url.PathEscape(args[0]) + "/invocations"
			if qualifier != "" {
				path += "?Qualifier=" + url.QueryEscape(qualifier)
			}
			headers := map[string]string{"Content-Type": "application/json"}
			if tail {
				headers["X-Amz-Log-Type"] = "Tail"
			}
			if pol != "" {
				headers["X-Ember-Policy"] = pol
			}
			resp, err := c.send(ctx, "POST", path, headers, payload, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			out, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if tail {
				if l, err := base64.StdEncoding.DecodeString(resp.Header.Get("X-Amz-Log-Result")); err == nil {
					stderr.Write(l)
				}
			}
			stdout.Write(out)
			fmt.Fprintln(stdout)
			if fe := resp.Header.Get("X-Amz-Function-Error"); fe != "" {
				return &functionError{kind: fe}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&qualifier, "qualifier", "", "version or alias")
	cmd.Flags().BoolVar(&tail, "tail", false, "print the last 4 KB of the invocation's log to stderr")
	cmd.Flags().StringVar(&pol, "policy", "", `a policy fragment (JSON) that tightens the function's policy for this call, e.g. '{"isolation":"fresh"}'`)
	return cmd
}

type functionError struct{ kind string }

func (e *functionError) Error() string { return "function error (" + e.kind + ")" }

func logsCmd(cf *clientFlags, stdout io.Writer) *cobra.Command {
	var follow bool
	var since string
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a function's logs (START/END/REPORT and its output)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cf.client(ctx)
			if err != nil {
				return err
			}
			q := url.Values{}
			if since != "" {
				q.Set("since", since)
			}
			if follow {
				q.Set("follow", "true")
			}
			c.http.Timeout = 0
			resp, err := c.send(ctx, "GET", "/ember/functions/"+url.PathEscape(args[0])+"/logs?"+q.Encode(), nil, nil, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(stdout, resp.Body)
			if ctx.Err() != nil {
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new log records")
	cmd.Flags().StringVar(&since, "since", "", "only records newer than a duration (10m) or an RFC 3339 time")
	return cmd
}
