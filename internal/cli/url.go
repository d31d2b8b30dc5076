package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

// urlCmd is `ember url NAME`: print the function's URL, creating one with
// --create (the AWS CLI's *-function-url-config commands do the rest).
func urlCmd(cf *clientFlags, stdout io.Writer) *cobra.Command {
	var qualifier, authType string
	var create bool
	cmd := &cobra.Command{
		Use:   "url NAME",
		Short: "Print the function's URL (--create makes one if it has none)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			p := "/2021-10-31/functions/" + url.PathEscape(args[0]) + "/url"
			if qualifier != "" {
				p += "?Qualifier=" + url.QueryEscape(qualifier)
			}
			var out struct{ FunctionUrl string }
			err = c.do(cmd.Context(), "GET", p, nil, &out)
			var ce *clientError
			if create && errors.As(err, &ce) && ce.Status == http.StatusNotFound && ce.Type == "ResourceNotFoundException" {
				err = c.do(cmd.Context(), "POST", p, map[string]string{"AuthType": authType}, &out)
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, out.FunctionUrl)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&qualifier, "qualifier", "", "an alias whose URL to print (default: the unqualified function's)")
	f.BoolVar(&create, "create", false, "create the URL if the function has none")
	f.StringVar(&authType, "auth-type", "NONE", "with --create: NONE (public) or AWS_IAM (SigV4-signed callers the policy allows)")
	return cmd
}
