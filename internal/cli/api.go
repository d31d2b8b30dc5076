package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/cobra"
)

// apiCmd is `ember api ...`: published APIs — routes to the caller's
// functions that other accounts subscribe to and call over HTTP, billed to
// them.
func apiCmd(cf *clientFlags, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "api",
		Short: "Publish functions as an HTTP API that other accounts subscribe to and call (billed to them)",
	}
	path := func(api string, rest ...string) string {
		p := "/ember/apis/" + url.PathEscape(api)
		for _, r := range rest {
			p += "/" + r
		}
		return p
	}
	// call sends one request and prints the JSON answer (if any).
	call := func(cmd *cobra.Command, method, p string, in any) error {
		c, err := cf.client(cmd.Context())
		if err != nil {
			return err
		}
		var out any
		if err := c.do(cmd.Context(), method, p, in, &out); err != nil {
			return err
		}
		if out == nil {
			return nil
		}
		return printJSON(stdout, out)
	}

	var description string
	create := &cobra.Command{
		Use:   "create NAME [--description D]",
		Short: "Create an API (private until published); prints it with its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "POST", "/ember/apis", map[string]any{"Name": args[0], "Description": description})
		},
	}
	create.Flags().StringVar(&description, "description", "", "what the API is for")

	var newName, newDescription string
	update := &cobra.Command{
		Use:   "update API [--name N] [--description D]",
		Short: "Rename an API or change its description",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := map[string]any{}
			if cmd.Flags().Changed("name") {
				in["Name"] = newName
			}
			if cmd.Flags().Changed("description") {
				in["Description"] = newDescription
			}
			if len(in) == 0 {
				return errors.New("nothing to change: give --name or --description")
			}
			return call(cmd, "PUT", path(args[0]), in)
		},
	}
	update.Flags().StringVar(&newName, "name", "", "the new name")
	update.Flags().StringVar(&newDescription, "description", "", "the new description")

	var timeout int
	var deleteRoute bool
	route := &cobra.Command{
		Use:   "route API 'METHOD /path/{param}' FUNCTION [--timeout S] | route API 'METHOD /path' --delete",
		Short: "Add or replace a route of the API's draft (deploy a stage to serve it), or remove one",
		Long: "A route key is METHOD /path, where METHOD is ANY, GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS,\n" +
			"a path segment {name} is a path parameter and a last segment {name+} takes the rest of the path;\n" +
			"$default catches what no route matches. FUNCTION is one of your functions (name or ARN, with\n" +
			"an optional :version or :alias). --timeout bounds a call in seconds (at most the function's).",
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if deleteRoute {
				if len(args) != 2 {
					return errors.New("--delete takes API and the route key only")
				}
				return call(cmd, "DELETE", path(args[0], "routes")+"?RouteKey="+url.QueryEscape(args[1]), nil)
			}
			if len(args) != 3 {
				return errors.New("give API, the route key and FUNCTION (or --delete)")
			}
			return call(cmd, "PUT", path(args[0], "routes"), map[string]any{"RouteKey": args[1], "Target": args[2], "TimeoutSeconds": timeout})
		},
	}
	route.Flags().IntVar(&timeout, "timeout", 0, "seconds a call may take (default: the function's timeout)")
	route.Flags().BoolVar(&deleteRoute, "delete", false, "remove the route instead")

	var public, private bool
	var accounts []string
	publish := &cobra.Command{
		Use:   "publish API --public | --accounts ID,ID | --private",
		Short: "Say who may see, subscribe to and call the API",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := map[string]any{}
			n := 0
			if public {
				in["Visibility"], n = "public", n+1
			}
			if private {
				in["Visibility"], n = "private", n+1
			}
			if len(accounts) > 0 {
				in["Visibility"], in["Accounts"], n = "accounts", accounts, n+1
			}
			if n != 1 {
				return errors.New("give exactly one of --public, --accounts ID,ID or --private")
			}
			return call(cmd, "PUT", path(args[0], "visibility"), in)
		},
	}
	publish.Flags().BoolVar(&public, "public", false, "every account")
	publish.Flags().BoolVar(&private, "private", false, "you only (subscribers can no longer call it)")
	publish.Flags().StringSliceVar(&accounts, "accounts", nil, "these account ids only")

	var stageDescription string
	deploy := &cobra.Command{
		Use:   "deploy API STAGE [--description D]",
		Short: "Freeze the API's current routes as STAGE, served at /apis/API/STAGE/...",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "POST", path(args[0], "stages", url.PathEscape(args[1])), map[string]any{"Description": stageDescription})
		},
	}
	deploy.Flags().StringVar(&stageDescription, "description", "", "what this deployment is")

	stages := &cobra.Command{
		Use:   "stages API",
		Short: "List the API's deployed stages and their routes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "GET", path(args[0], "stages"), nil)
		},
	}

	subscribe := &cobra.Command{
		Use:   "subscribe API",
		Short: "Subscribe to an API shared with you; prints the key, shown this once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := call(cmd, "POST", path(args[0], "subscription"), nil); err != nil {
				return err
			}
			keyNotice(stderr)
			return nil
		},
	}
	unsubscribe := &cobra.Command{
		Use:   "unsubscribe API",
		Short: "End your subscription; its key stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "DELETE", path(args[0], "subscription"), nil)
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate-key API",
		Short: "Replace your subscription's key; prints the new one, shown this once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := call(cmd, "POST", path(args[0], "subscription", "key"), nil); err != nil {
				return err
			}
			keyNotice(stderr)
			return nil
		},
	}

	var shared bool
	list := &cobra.Command{
		Use:   "list [--shared]",
		Short: "List your APIs and your subscriptions (--shared: other accounts' APIs you may subscribe to)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			if shared {
				var out any
				if err := c.do(cmd.Context(), "GET", "/ember/apis?shared=true", nil, &out); err != nil {
					return err
				}
				return printJSON(stdout, out)
			}
			var apis struct{ Apis []any }
			var subs struct{ Subscriptions []any }
			if err := c.do(cmd.Context(), "GET", "/ember/apis", nil, &apis); err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "GET", "/ember/apis/subscriptions", nil, &subs); err != nil {
				return err
			}
			return printJSON(stdout, map[string]any{"Apis": apis.Apis, "Subscriptions": subs.Subscriptions})
		},
	}
	list.Flags().BoolVar(&shared, "shared", false, "other accounts' APIs shared with you or public")

	get := &cobra.Command{
		Use:   "get API",
		Short: "Show an API (the owner sees its routes' targets, others the route keys)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "GET", path(args[0]), nil)
		},
	}
	del := &cobra.Command{
		Use:   "delete API",
		Short: "Delete an API with its stages and subscriptions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "DELETE", path(args[0]), nil)
		},
	}

	subscribers := &cobra.Command{
		Use:   "subscribers API",
		Short: "List who subscribed to your API: accounts, plans, today's calls (never keys)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "GET", path(args[0], "subscribers"), nil)
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke API ACCOUNT",
		Short: "End another account's subscription to your API",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "DELETE", path(args[0], "subscribers", url.PathEscape(args[1])), nil)
		},
	}

	var rate float64
	var burst int
	var quota int64
	var planAccount string
	var reset bool
	plan := &cobra.Command{
		Use:   "plan API [--account ID] [--rate R] [--burst B] [--quota Q] | plan API --account ID --reset",
		Short: "Set the API's default usage plan, or one subscriber's (0: unlimited)",
		Long: "Without --account this sets the default plan: every subscription without a plan of its own\n" +
			"follows it. With --account it sets that subscriber's plan; --reset returns it to the default.\n" +
			"--rate is requests per second, --burst how many may come at once (default: the rate rounded up),\n" +
			"--quota requests per UTC day.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]any{"RateLimit": rate, "Burst": burst, "DailyQuota": quota}
			switch {
			case reset && planAccount == "":
				return errors.New("--reset needs --account")
			case reset:
				return call(cmd, "DELETE", path(args[0], "subscribers", url.PathEscape(planAccount), "plan"), nil)
			case planAccount != "":
				return call(cmd, "PUT", path(args[0], "subscribers", url.PathEscape(planAccount), "plan"), p)
			}
			return call(cmd, "PUT", path(args[0]), map[string]any{"DefaultPlan": p})
		},
	}
	plan.Flags().Float64Var(&rate, "rate", 0, "requests per second (0: unlimited)")
	plan.Flags().IntVar(&burst, "burst", 0, "requests at once (0: the rate rounded up)")
	plan.Flags().Int64Var(&quota, "quota", 0, "requests per UTC day (0: unlimited)")
	plan.Flags().StringVar(&planAccount, "account", "", "the subscriber whose plan to set")
	plan.Flags().BoolVar(&reset, "reset", false, "return the subscriber to the default plan")

	root.AddCommand(create, update, route, publish, deploy, stages, subscribe, unsubscribe, rotate,
		list, get, del, subscribers, revoke, plan)
	return root
}

// keyNotice is printed to stderr after a key is shown.
func keyNotice(w io.Writer) {
	fmt.Fprintln(w, `ember: keep the key: it is shown only this once. Call with the header "x-api-key: KEY".`)
}
