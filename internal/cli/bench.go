package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/spf13/cobra"

	"github.com/ember-run/ember/internal/loadgen"
)

// benchDescription marks the functions ember bench creates, so it never
// overwrites or deletes a function it did not make.
const benchDescription = "ember bench load generator function"

// benchHandler is the function bench deploys unless given --zip: it
// returns its event, so the numbers are the platform's, not the code's.
const benchHandler = "def handler(e, c):\n    return e\n"

type benchFlags struct {
	functions       int
	runtime, prefix string
	zipFile, handle string
	keep, asJSON    bool
}

func benchCmd(cf *clientFlags, stdout, stderr io.Writer) *cobra.Command {
	p := loadgen.DefaultPattern()
	var bf benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Deploy trivial functions, replay Poisson traffic with skewed popularity, report cold starts, latency and throttles",
		Long: `bench deploys --functions trivial functions, sends them --rate calls per
second for --duration (or --requests calls), and deletes them again.

Each function's calls arrive as a Poisson process; function k (from 0) gets
a share of the rate proportional to 1/(k+1)^s, s = --zipf (0: uniform).
Calls are sent on schedule whether or not earlier ones have answered;
an arrival that finds --concurrency-cap calls already waiting is shed
(counted, not sent). A call is cold when its log tail's REPORT line has
Init Duration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			if fl.Changed("requests") {
				if fl.Changed("duration") {
					return errors.New("--duration and --requests: choose one")
				}
				p.Duration = 0
			}
			code, runtime, handler, err := benchCode(bf)
			if err != nil {
				return err
			}
			if bf.functions < 1 {
				return errors.New("--functions: want at least 1")
			}
			p.Functions = benchNames(bf.prefix, bf.functions)
			if err := p.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			context.AfterFunc(ctx, stop) // a second Ctrl-C is not caught: it stops the cleanup too
			c, err := cf.client(ctx)
			if err != nil {
				return err
			}
			return bench(ctx, c, p, bf, benchFunction{runtime: runtime, handler: handler, code: code}, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.IntVar(&bf.functions, "functions", 20, "how many functions to deploy and call")
	f.Float64Var(&p.Rate, "rate", p.Rate, "total calls per second, over all functions")
	f.DurationVar(&p.Duration, "duration", p.Duration, "how long to send calls")
	f.IntVar(&p.Requests, "requests", 0, "send this many calls instead of running for --duration")
	f.Float64Var(&p.Zipf, "zipf", p.Zipf, "popularity exponent s: function k gets 1/(k+1)^s of the rate (0: uniform)")
	f.IntVar(&p.MaxInFlight, "concurrency-cap", p.MaxInFlight, "most calls waiting for an answer; arrivals beyond it are shed")
	f.Uint64Var(&p.Seed, "seed", p.Seed, "random seed: the same seed replays the same arrivals")
	f.StringVar(&bf.runtime, "runtime", "python3.12", "runtime of the functions; bench carries a handler for python3.x, others need --zip and --handler")
	f.StringVar(&bf.prefix, "prefix", "bench-", "function name prefix")
	f.StringVar(&bf.zipFile, "zip", "", "deploy this bundle instead of the built-in handler (needs --handler)")
	f.StringVar(&bf.handle, "handler", "", "handler of the --zip bundle")
	f.BoolVar(&bf.keep, "keep", false, "leave the functions deployed afterwards")
	f.BoolVar(&bf.asJSON, "json", false, "print the report as JSON")
	return cmd
}

// benchFunction is the code every bench function runs.
type benchFunction struct {
	runtime, handler string
	code             []byte
}

// benchCode picks the bundle: the user's --zip, or the built-in python
// handler.
func benchCode(bf benchFlags) (code []byte, runtime, handler string, err error) {
	switch {
	case bf.zipFile != "":
		if bf.handle == "" {
			return nil, "", "", errors.New("--zip needs --handler")
		}
		code, err = os.ReadFile(bf.zipFile)
		return code, bf.runtime, bf.handle, err
	case bf.handle != "":
		return nil, "", "", errors.New("--handler needs --zip: the built-in function's handler is app.handler")
	case !strings.HasPrefix(bf.runtime, "python3"):
		return nil, "", "", fmt.Errorf("--runtime %s: bench carries a handler for python3.x only; pass --zip FILE --handler H", bf.runtime)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("app.py")
	if err == nil {
		_, err = io.WriteString(w, benchHandler)
	}
	if err == nil {
		err = zw.Close()
	}
	return buf.Bytes(), bf.runtime, "app.handler", err
}

func benchNames(prefix string, n int) []string {
	width := max(2, len(fmt.Sprint(n-1)))
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%0*d", prefix, width, i)
	}
	return names
}

// bench deploys the functions, runs the pattern and, unless --keep,
// deletes the functions again, even when the run fails or is interrupted.
func bench(ctx context.Context, c *client, p loadgen.Pattern, bf benchFlags, fn benchFunction, stdout, stderr io.Writer) (err error) {
	role, err := defaultRole(ctx, c)
	if err != nil {
		return err
	}

	fmt.Fprintf(stderr, "deploying %d %s functions %s..%s\n", len(p.Functions), fn.runtime, p.Functions[0], p.Functions[len(p.Functions)-1])
	start := time.Now()
	deployed, err := benchDeploy(ctx, c, p.Functions, fn, role)
	if !bf.keep {
		defer func() {
			// The run may have been interrupted: clean up regardless.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			err = errors.Join(err, benchDelete(dctx, c, deployed))
			if len(deployed) > 0 {
				fmt.Fprintf(stderr, "deleted %d functions\n", len(deployed))
			}
		}()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "deployed in %.1fs; sending %s\n", time.Since(start).Seconds(), benchPlan(p))

	rep, err := loadgen.Run(ctx, &loadgen.LambdaInvoker{Client: c.lambda(p.MaxInFlight)}, p)
	if err != nil {
		return err
	}
	if bf.asJSON {
		err = printJSON(stdout, rep)
	} else {
		err = rep.WriteText(stdout)
	}
	if err == nil && rep.Interrupted {
		err = errors.New("interrupted")
	}
	return err
}

func benchPlan(p loadgen.Pattern) string {
	plan := fmt.Sprintf("%g calls/s", p.Rate)
	if p.Requests > 0 {
		return plan + fmt.Sprintf(" until %d calls", p.Requests)
	}
	return plan + " for " + p.Duration.String()
}

// benchParallel is how many functions are created or deleted at once.
const benchParallel = 4

// benchDeploy creates (or, if bench made them before, updates) the
// functions and waits until each is active. It returns the names it
// deployed, including those of a partial failure, for cleanup.
func benchDeploy(ctx context.Context, c *client, names []string, fn benchFunction, role string) ([]string, error) {
	ok := make([]bool, len(names))
	err := benchEach(ctx, len(names), true, func(ctx context.Context, i int) error {
		path := "/2015-03-31/functions/" + url.PathEscape(names[i])
		var existing struct{ Description string }
		err := c.do(ctx, "GET", path+"/configuration", nil, &existing)
		var ce *clientError
		switch {
		case errors.As(err, &ce) && ce.Status == http.StatusNotFound:
			req := map[string]any{
				"FunctionName": names[i], "Runtime": fn.runtime, "Handler": fn.handler, "Role": role,
				"Description": benchDescription, "Code": map[string]any{"ZipFile": fn.code},
			}
			if err := c.upload(ctx, "POST", "/2015-03-31/functions", req, nil); err != nil {
				return fmt.Errorf("creating %s: %w", names[i], err)
			}
		case err != nil:
			return err
		case existing.Description != benchDescription:
			return fmt.Errorf("function %s exists and ember bench did not create it; choose another --prefix", names[i])
		default:
			// Left by an earlier --keep: bring it to this run's code.
			if err := c.upload(ctx, "PUT", path+"/code", map[string]any{"ZipFile": fn.code}, nil); err != nil {
				return fmt.Errorf("updating %s: %w", names[i], err)
			}
			if err := waitActive(ctx, c, path); err != nil {
				return fmt.Errorf("%s: %w", names[i], err)
			}
			if err := c.do(ctx, "PUT", path+"/configuration", map[string]any{"Runtime": fn.runtime, "Handler": fn.handler}, nil); err != nil {
				return fmt.Errorf("updating %s: %w", names[i], err)
			}
		}
		ok[i] = true
		if err := waitActive(ctx, c, path); err != nil {
			return fmt.Errorf("%s: %w", names[i], err)
		}
		return nil
	})
	var deployed []string
	for i, name := range names {
		if ok[i] {
			deployed = append(deployed, name)
		}
	}
	return deployed, err
}

func benchDelete(ctx context.Context, c *client, names []string) error {
	return benchEach(ctx, len(names), false, func(ctx context.Context, i int) error {
		err := c.do(ctx, "DELETE", "/2015-03-31/functions/"+url.PathEscape(names[i]), nil, nil)
		var ce *clientError
		if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deleting %s: %w", names[i], err)
		}
		return nil
	})
}

// benchEach calls do for every index, benchParallel at a time. With
// firstOnly, the first error stops the indexes not yet started and is the
// one returned (deploying further is wasted); without it every index is
// tried and the errors are joined (a cleanup should get as far as it can).
func benchEach(ctx context.Context, n int, firstOnly bool, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	next := make(chan int)
	for range min(benchParallel, n) {
		wg.Go(func() {
			for i := range next {
				err := do(ctx, i)
				mu.Lock()
				if err != nil && (!firstOnly || len(errs) == 0) {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err != nil && firstOnly {
					cancel()
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// lambda is an aws-sdk-go-v2 client signing with c's keys, without
// retries (a retried throttle hides the throttle), keeping up to conns
// connections to the server open.
func (c *client) lambda(conns int) *lambda.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	return lambda.New(lambda.Options{
		Region:       c.region,
		BaseEndpoint: aws.String(c.endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: c.akid, SecretAccessKey: c.secret, Source: "ember"}, nil
		}),
		Retryer:    aws.NopRetryer{},
		HTTPClient: &http.Client{Transport: tr, Timeout: 16 * time.Minute},
	})
}
