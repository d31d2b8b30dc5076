package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// aliasOfCmd is `ember alias-of NAME TARGET-ARN [flags]`: a cross-account
// alias, in the caller's namespace, of a function another account granted
// it; plus `list`, `get NAME` and `delete NAME`.
func aliasOfCmd(cf *clientFlags, stdout io.Writer) *cobra.Command {
	path := func(name string) string { return "/ember/cross-account-aliases/" + url.PathEscape(name) }
	var params, env []string
	var paramsJSON, description string
	var memory, timeout int
	root := &cobra.Command{
		Use:   "alias-of NAME TARGET-ARN",
		Short: "Create or replace a cross-account alias: NAME in your account runs another account's function, with your parameters and credentials",
		Long: `Create or replace NAME, a cross-account alias of TARGET-ARN (another account's
function, optionally qualified by a version or alias; its owner must have granted your
account lambda:InvokeFunction or ember:CreateCrossAccountAlias with AddPermission).

Invoke NAME like any of your functions (aws lambda invoke --function-name NAME): you pay,
it counts against your concurrency, its logs are yours (ember logs NAME). --param fields
are added to every event that does not set them; --env variables (your own credentials)
are given to the execution and never shown back, to you or to the function's owner.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"Target": args[1]}
			if description != "" {
				body["Description"] = description
			}
			p := map[string]any{}
			if paramsJSON != "" {
				if err := json.Unmarshal([]byte(paramsJSON), &p); err != nil {
					return fmt.Errorf("--params must be a JSON object: %w", err)
				}
			}
			for _, kv := range params {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--param %q: want KEY=VALUE", kv)
				}
				var j any
				if json.Unmarshal([]byte(v), &j) == nil {
					p[k] = j // a JSON value (number, bool, object) as such
				} else {
					p[k] = v
				}
			}
			if len(p) > 0 {
				body["Parameters"] = p
			}
			if len(env) > 0 {
				e := map[string]string{}
				for _, kv := range env {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return fmt.Errorf("--env %q: want NAME=VALUE", kv)
					}
					e[k] = v
				}
				body["Environment"] = e
			}
			if memory > 0 {
				body["MemorySize"] = memory
			}
			if timeout > 0 {
				body["Timeout"] = timeout
			}
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			var out map[string]any
			if err := c.do(cmd.Context(), "PUT", path(args[0]), body, &out); err != nil {
				return err
			}
			return printJSON(stdout, out)
		},
	}
	root.Flags().StringArrayVar(&params, "param", nil, "KEY=VALUE added to each event that lacks KEY (repeatable; VALUE may be JSON)")
	root.Flags().StringVar(&paramsJSON, "params", "", "default parameters as one JSON object")
	root.Flags().StringArrayVar(&env, "env", nil, "NAME=VALUE given to the execution, e.g. your own credentials (repeatable; write-only)")
	root.Flags().StringVar(&description, "description", "", "a description")
	root.Flags().IntVar(&memory, "memory", 0, "lower the function's memory size (MB)")
	root.Flags().IntVar(&timeout, "timeout", 0, "lower the function's timeout (seconds)")

	sub := func(method, use, short string, nargs int) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(nargs),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := cf.client(cmd.Context())
				if err != nil {
					return err
				}
				p := "/ember/cross-account-aliases"
				if nargs == 1 {
					p = path(args[0])
				}
				if method == "DELETE" {
					return c.do(cmd.Context(), method, p, nil, nil)
				}
				var out map[string]any
				if err := c.do(cmd.Context(), method, p, nil, &out); err != nil {
					return err
				}
				return printJSON(stdout, out)
			},
		}
	}
	root.AddCommand(
		sub("GET", "list", "List your cross-account aliases", 0),
		sub("GET", "get NAME", "Show a cross-account alias (variable names only, never values)", 1),
		sub("DELETE", "delete NAME", "Delete a cross-account alias", 1),
	)
	return root
}
