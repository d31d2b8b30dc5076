package cli

import (
	"encoding/json"
	"io"
	"net/url"

	"github.com/spf13/cobra"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func accountCmd(cf *clientFlags, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Manage accounts (admin)"}
	cf.bind(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create an account and print its first access key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			var out map[string]any
			if err := c.do(cmd.Context(), "POST", "/ember/accounts", map[string]string{"Name": args[0]}, &out); err != nil {
				return err
			}
			return printJSON(stdout, out)
		},
	}, &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			var out struct{ Accounts []map[string]any }
			if err := c.do(cmd.Context(), "GET", "/ember/accounts", nil, &out); err != nil {
				return err
			}
			if out.Accounts == nil {
				out.Accounts = []map[string]any{}
			}
			return printJSON(stdout, out.Accounts)
		},
	}, &cobra.Command{
		Use:   "delete ACCOUNT_ID",
		Short: "Delete an account, its keys and all its functions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			return c.do(cmd.Context(), "DELETE", "/ember/accounts/"+url.PathEscape(args[0]), nil, nil)
		},
	}, &cobra.Command{
		Use:   "whoami",
		Short: "Show the account the credentials belong to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			var out map[string]any
			if err := c.do(cmd.Context(), "GET", "/ember/whoami", nil, &out); err != nil {
				return err
			}
			return printJSON(stdout, out)
		},
	})
	return cmd
}

func keyCmd(cf *clientFlags, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage an account's access keys"}
	cf.bind(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "create ACCOUNT_ID",
		Short: "Create an access key and print it (the secret is shown only once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			var out map[string]any
			if err := c.do(cmd.Context(), "POST", "/ember/accounts/"+url.PathEscape(args[0])+"/keys", nil, &out); err != nil {
				return err
			}
			return printJSON(stdout, out)
		},
	}, &cobra.Command{
		Use:   "list ACCOUNT_ID",
		Short: "List an account's access keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			var out struct{ Keys []map[string]any }
			if err := c.do(cmd.Context(), "GET", "/ember/accounts/"+url.PathEscape(args[0])+"/keys", nil, &out); err != nil {
				return err
			}
			if out.Keys == nil {
				out.Keys = []map[string]any{}
			}
			return printJSON(stdout, out.Keys)
		},
	}, &cobra.Command{
		Use:   "delete ACCOUNT_ID ACCESS_KEY_ID",
		Short: "Delete an access key",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			return c.do(cmd.Context(), "DELETE", "/ember/accounts/"+url.PathEscape(args[0])+"/keys/"+url.PathEscape(args[1]), nil, nil)
		},
	})
	return cmd
}
