package cli

import (
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// secretCmd is `ember secret put|list|delete FUNCTION`: values a function
// reads through its platform channel when its policy names them.
func secretCmd(cf *clientFlags, stdout io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "secret", Short: "Manage a function's secrets (write-only; the function reads them through its platform channel)"}
	path := func(fn string, rest ...string) string {
		p := "/ember/functions/" + url.PathEscape(fn) + "/secrets"
		for _, r := range rest {
			p += "/" + url.PathEscape(r)
		}
		return p
	}
	var value, fromFile string
	put := &cobra.Command{
		Use:   "put FUNCTION NAME [--value V | --from-file F]",
		Short: "Set a secret (without --value or --from-file the value is read from stdin)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v []byte
			var err error
			switch {
			case value != "" && fromFile != "":
				return errors.New("give --value or --from-file, not both")
			case value != "":
				v = []byte(value)
			case fromFile != "":
				v, err = os.ReadFile(fromFile)
			default:
				v, err = io.ReadAll(os.Stdin)
				v = []byte(strings.TrimSuffix(string(v), "\n"))
			}
			if err != nil {
				return err
			}
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			var out map[string]any
			if err := c.do(cmd.Context(), "PUT", path(args[0], args[1]), map[string]string{"Value": string(v)}, &out); err != nil {
				return err
			}
			return printJSON(stdout, out)
		},
	}
	put.Flags().StringVar(&value, "value", "", "the value (visible in your shell history; prefer stdin or --from-file)")
	put.Flags().StringVar(&fromFile, "from-file", "", "read the value from this file")
	list := &cobra.Command{
		Use:   "list FUNCTION",
		Short: "List a function's secrets (names and sizes, never values)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			var out map[string]any
			if err := c.do(cmd.Context(), "GET", path(args[0]), nil, &out); err != nil {
				return err
			}
			return printJSON(stdout, out)
		},
	}
	del := &cobra.Command{
		Use:   "delete FUNCTION NAME",
		Short: "Delete a secret",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			return c.do(cmd.Context(), "DELETE", path(args[0], args[1]), nil, nil)
		},
	}
	root.AddCommand(put, list, del)
	return root
}

// usageCmd is `ember usage`: what the caller's account paid for, or (with
// --role owner) how much other accounts used its functions.
func usageCmd(cf *clientFlags, stdout io.Writer) *cobra.Command {
	var since, until, by, role string
	var all bool
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show metered usage: invocations, duration, billed ms and GB-seconds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"since": since, "until": until, "by": by, "role": role} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if all {
				q.Set("all", "true")
			}
			var out struct{ Usage []json.RawMessage }
			if err := c.do(cmd.Context(), "GET", "/ember/usage?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			return printJSON(stdout, out.Usage)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only executions after a duration ago (24h) or an RFC 3339 time")
	cmd.Flags().StringVar(&until, "until", "", "only executions before a duration ago or an RFC 3339 time")
	cmd.Flags().StringVar(&by, "by", "", "group by function, alias, api, owner or payer (default: one total)")
	cmd.Flags().StringVar(&role, "role", "", "payer (what you paid for, default) or owner (others' use of your functions, per function)")
	cmd.Flags().BoolVar(&all, "all", false, "every account (admin only)")
	return cmd
}
