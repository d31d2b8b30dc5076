package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ember-run/ember/internal/sigv4"
)

// clientFlags locate the server and the caller's credentials.
type clientFlags struct {
	endpoint        string
	profile         string
	region          string
	credentialsFile string
}

func (cf *clientFlags) bind(cmd *cobra.Command) { cf.bindTo(cmd.PersistentFlags()) }

func (cf *clientFlags) bindLocal(cmd *cobra.Command) { cf.bindTo(cmd.Flags()) }

func (cf *clientFlags) bindTo(f *pflag.FlagSet) {
	f.StringVar(&cf.endpoint, "endpoint", envOr("EMBER_ENDPOINT", "http://127.0.0.1:9000"), "ember API endpoint (or EMBER_ENDPOINT)")
	f.StringVar(&cf.profile, "profile", os.Getenv("AWS_PROFILE"), "AWS shared-credentials profile to sign with")
	f.StringVar(&cf.region, "region", envOr("AWS_REGION", envOr("AWS_DEFAULT_REGION", "local")), "region to sign for")
	f.StringVar(&cf.credentialsFile, "credentials-file", "", "sign with the keys in this JSON file (e.g. ember-data/admin-credentials.json)")
}

// clientError is a refusal from the server, shown as Type: Message.
type clientError struct {
	Status  int
	Type    string
	Message string
}

func (e *clientError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Type, e.Status, e.Message)
}

type client struct {
	endpoint, region, akid, secret string
	http                           *http.Client
}

func (cf *clientFlags) client(ctx context.Context) (*client, error) {
	c := &client{endpoint: trimEndpoint(cf.endpoint), region: cf.region, http: &http.Client{Timeout: 5 * time.Minute}}
	if cf.credentialsFile != "" {
		data, err := os.ReadFile(cf.credentialsFile)
		if err != nil {
			return nil, err
		}
		var f struct{ AccessKeyId, SecretAccessKey string }
		if err := json.Unmarshal(data, &f); err != nil || f.AccessKeyId == "" {
			return nil, fmt.Errorf("%s: not an ember credentials file", cf.credentialsFile)
		}
		c.akid, c.secret = f.AccessKeyId, f.SecretAccessKey
		return c, nil
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(cf.region), config.WithEC2IMDSClientEnableState(1)}
	if cf.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cf.profile))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading credentials: %w", err)
	}
	creds, err := awsCfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, errors.New("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, --profile, or --credentials-file")
	}
	c.akid, c.secret = creds.AccessKeyID, creds.SecretAccessKey
	return c, nil
}

// do sends a signed request and decodes a JSON answer into out (if not nil).
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	resp, err := c.send(ctx, method, path, map[string]string{"Content-Type": "application/json"}, body, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// send signs and sends a request; an error status becomes a clientError.
// progress, if set, is told how many body bytes have gone out.
func (c *client) send(ctx context.Context, method, path string, headers map[string]string, body []byte, progress func(sent, total int64)) (*http.Response, error) {
	var rd io.Reader = bytes.NewReader(body)
	if progress != nil {
		rd = &progressReader{r: rd, total: int64(len(body)), report: progress}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, rd)
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if err := sigv4.Sign(req, body, c.akid, c.secret, c.region, "lambda", time.Now()); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach ember at %s: %w", c.endpoint, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := &clientError{Status: resp.StatusCode, Type: resp.Header.Get("X-Amzn-ErrorType")}
		var body struct{ Message, Type string }
		if json.Unmarshal(data, &body) == nil {
			e.Message = body.Message
		}
		if e.Type == "" {
			e.Type = http.StatusText(resp.StatusCode)
		}
		return nil, e
	}
	return resp, nil
}

type progressReader struct {
	r      io.Reader
	sent   int64
	total  int64
	report func(sent, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.sent += int64(n)
	p.report(p.sent, p.total)
	return n, err
}
