package cli

import (
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"

	"github.com/spf13/cobra"
)

// policyCmd is `ember policy put|get|delete FUNCTION`: a function's
// security policy (docs/SECURITY.md has the reference).
func policyCmd(cf *clientFlags, stdout io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "policy",
		Short: "Set, show or remove a function's security policy",
	}
	path := func(name string) string {
		return "/ember/functions/" + url.PathEscape(name) + "/security-policy"
	}
	var file, revision, qualifier string
	put := &cobra.Command{
		Use:   "put FUNCTION --file policy.json",
		Short: "Set the security policy of the function's $LATEST (publish a version to freeze it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return errors.New("--file is required (use - for stdin)")
			}
			var doc []byte
			var err error
			if file == "-" {
				doc, err = io.ReadAll(os.Stdin)
			} else {
				doc, err = os.ReadFile(file)
			}
			if err != nil {
				return err
			}
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			p := path(args[0])
			if revision != "" {
				p += "?RevisionId=" + url.QueryEscape(revision)
			}
			resp, err := c.send(cmd.Context(), "PUT", p, map[string]string{"Content-Type": "application/json"}, doc, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return printBody(stdout, resp.Body)
		},
	}
	put.Flags().StringVar(&file, "file", "", "the policy document (JSON); - reads stdin")
	put.Flags().StringVar(&revision, "revision-id", "", "only if the configuration's RevisionId is still this")
	get := &cobra.Command{
		Use:   "get FUNCTION",
		Short: "Show the policy document and the effective policy (every default filled in)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			p := path(args[0])
			if qualifier != "" {
				p += "?Qualifier=" + url.QueryEscape(qualifier)
			}
			resp, err := c.send(cmd.Context(), "GET", p, nil, nil, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return printBody(stdout, resp.Body)
		},
	}
	get.Flags().StringVar(&qualifier, "qualifier", "", "a version or alias (default $LATEST)")
	del := &cobra.Command{
		Use:   "delete FUNCTION",
		Short: "Remove the policy of $LATEST: the defaults apply again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.send(cmd.Context(), "DELETE", path(args[0]), nil, nil, nil)
			if err != nil {
				return err
			}
			return resp.Body.Close()
		},
	}
	root.AddCommand(put, get, del)
	return root
}

// printBody prints a JSON answer indented.
func printBody(w io.Writer, r io.Reader) error {
	var v any
	if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(&v); err != nil {
		return err
	}
	return printJSON(w, v)
}
