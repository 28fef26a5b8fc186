package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/account"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/sqlite"
)

// limitFlag is a limit override flag: an integer, or "plan" to remove the
// override so the plan's limit applies. It remembers whether it was given.
type limitFlag struct {
	v     *int64
	reset bool
}

func (o *limitFlag) String() string {
	switch {
	case o.reset:
		return "plan"
	case o.v == nil:
		return ""
	}
	return strconv.FormatInt(*o.v, 10)
}

func (o *limitFlag) Set(s string) error {
	if s == "plan" {
		o.v, o.reset = nil, true
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New(`must be an integer, or "plan" for the plan's limit`)
	}
	o.v, o.reset = &n, false
	return nil
}

// planFlag is a --plan flag that remembers whether it was given.
type planFlag struct{ v *quantumlock.Plan }

func (p *planFlag) String() string {
	if p.v == nil {
		return ""
	}
	return string(*p.v)
}

func (p *planFlag) Set(s string) error {
	pl := quantumlock.Plan(s)
	if !pl.Valid() {
		return errors.New("must be free, startup, business or enterprise")
	}
	p.v = &pl
	return nil
}

// cliMessage is what a command says of err: a domain error's own sentence,
// anything else as it is. The API answers "Internal error." there, keeping
// the service's internals from its customers; a command's user is the
// operator, who needs to hear that the database is locked, read-only or
// full.
func cliMessage(err error) string {
	if _, ok := errors.AsType[*quantumlock.Error](err); ok {
		return quantumlock.ErrorMessage(err)
	}
	return err.Error()
}

// customerFlags maps the customer fields the domain's sentences start
// with to the flags of the customers commands that carry them.
var customerFlags = map[string]string{
	"name":                "--name",
	"email":               "--email",
	"plan":                "--plan",
	"licenses_per_month":  "--licenses-per-month",
	"requests_per_minute": "--requests-per-minute",
}

// flagMessage is cliMessage for the customers commands: a sentence that
// starts with a customer field ("requests_per_minute must be positive.",
// as the API says it) starts with its flag instead, which is what the
// operator typed.
func flagMessage(err error) string {
	msg := cliMessage(err)
	if quantumlock.ErrorCode(err) != quantumlock.EINVALID {
		return msg
	}
	if field, rest, ok := strings.Cut(msg, " "); ok {
		if f, ok := customerFlags[field]; ok {
			return f + " " + rest
		}
	}
	return msg
}

// adminEnv is what the admin commands work with: the store and the account
// service on it.
type adminEnv struct {
	db       *sqlite.DB
	accounts *account.Service
}

// openAdmin opens the database at dbPath for an admin command. Only
// "customers create" (mayCreate) makes a new one, and reports that it did
// (created); the others need it to exist, so that a mistyped --db is an
// error rather than an empty database that answers "no customers".
func openAdmin(ctx context.Context, dbPath string, mayCreate bool) (env *adminEnv, created bool, err error) {
	if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
		if !mayCreate {
			return nil, false, fmt.Errorf("no database at %s: check --db (serve, or customers create, makes one)", dbPath)
		}
		created = true
	}
	// Ids and API keys come from the same entropy subsystem as the
	// server's; the CLI runs no remote source, so it is the conditioned OS
	// source.
	pool, err := entropy.New(entropy.Config{})
	if err != nil {
		return nil, false, err
	}
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		if created {
			// A failed open leaves no database behind, unless another
			// process has taken up the new file meanwhile.
			sqlite.RemoveUnused(dbPath)
		}
		return nil, false, err
	}
	env = &adminEnv{db: db, accounts: &account.Service{
		Customers: db, Keys: db, Rand: pool, Now: quantumlock.SystemClock,
	}}
	if testHookAdminOpened != nil {
		testHookAdminOpened(env)
	}
	return env, created, nil
}

// testHookAdminOpened, when set by a test, sees each admin environment as
// soon as it is open: the way a test makes a command fail after its
// database exists.
var testHookAdminOpened func(*adminEnv)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // a name such as "Tom & Jerry" as typed
	return enc.Encode(v)
}

// customerJSON is how the CLI shows a customer.
type customerJSON struct {
	ID                string           `json:"id"`
	Name              string           `json:"name"`
	Email             string           `json:"email"`
	Plan              quantumlock.Plan `json:"plan"`
	LicensesPerMonth  *int64           `json:"licenses_per_month"` // null: unlimited
	RequestsPerMinute int64            `json:"requests_per_minute"`
	CreatedAt         string           `json:"created_at"`
}

func customerOut(c *quantumlock.Customer) customerJSON {
	l := c.Limits()
	out := customerJSON{ID: c.ID, Name: c.Name, Email: c.Email, Plan: c.Plan,
		RequestsPerMinute: l.RequestsPerMinute, CreatedAt: c.CreatedAt.Format(time.RFC3339)}
	if l.LicensesPerMonth > 0 {
		out.LicensesPerMonth = &l.LicensesPerMonth
	}
	return out
}

func runCustomers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("customers: want create, list or update")
	}
	sub, args := args[0], args[1:]
	if isHelp(sub) {
		fmt.Fprintln(stdout, `usage: quantumlock customers create|list|update [flags]; "quantumlock customers create -h" shows create's flags`)
		return nil
	}
	fs := flag.NewFlagSet("customers "+sub, flag.ContinueOnError)
	fs.SetOutput(stdout)
	dbPath := fs.String("db", "quantumlock.db", "SQLite database file")
	var plan planFlag
	var lpm, rpm limitFlag
	var name, email *string
	switch sub {
	case "create":
		name = fs.String("name", "", "customer name (required)")
		email = fs.String("email", "", "customer e-mail (required)")
		fallthrough
	case "update":
		fs.Var(&plan, "plan", "plan: free, startup, business or enterprise")
		fs.Var(&lpm, "licenses-per-month", "override the plan's monthly license quota (0 = unlimited, plan = the plan's)")
		fs.Var(&rpm, "requests-per-minute", "override the plan's requests per minute (plan = the plan's)")
	case "list":
	default:
		return fmt.Errorf("customers: unknown subcommand %q (want create, list or update)", sub)
	}
	setUsage(fs, map[string]string{
		"create": "customers create --name NAME --email EMAIL [flags]",
		"list":   "customers list [flags]",
		"update": "customers update CUSTOMER_ID [flags]",
	}[sub])
	pos, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if sub != "update" {
		if err := noArguments(fs, pos); err != nil {
			return err
		}
	}
	var c *quantumlock.Customer
	if sub == "create" {
		switch {
		case *name == "":
			return errors.New("customers create: --name is required")
		case *email == "":
			return errors.New("customers create: --email is required")
		}
		c = &quantumlock.Customer{Name: *name, Email: *email, Plan: quantumlock.PlanFree,
			LicensesPerMonth: lpm.v, RequestsPerMinute: rpm.v}
		if plan.v != nil {
			c.Plan = *plan.v
		}
		// Checked before the database is opened, let alone made.
		if err := c.Validate(); err != nil {
			return errors.New(flagMessage(err))
		}
	}
	env, created, err := openAdmin(ctx, *dbPath, sub == "create")
	if err != nil {
		return err
	}
	defer env.db.Close()

	switch sub {
	case "create":
		secret, err := env.accounts.CreateCustomer(ctx, c)
		if err != nil {
			// A failed create on a mistyped --db must not leave a
			// database there; but one another process has opened or
			// written to since (a server started on the same new path,
			// another create) is theirs.
			if created {
				env.db.Close()
				sqlite.RemoveUnused(*dbPath)
			}
			return errors.New(flagMessage(err))
		}
		if created {
			fmt.Fprintf(stderr, "quantumlock: %s did not exist; created a new database\n", *dbPath)
		}
		// Customers are not unique by e-mail (one company may hold two
		// accounts), but a create run twice, a retried script say, is
		// worth a word: there is no command to delete the second.
		if cs, err := env.db.Customers(ctx); err == nil {
			for _, o := range cs {
				if o.ID != c.ID && strings.EqualFold(o.Email, c.Email) {
					fmt.Fprintf(stderr, "quantumlock: note: %s has this e-mail too\n", o.ID)
				}
			}
		}
		// SPEC §2's fields, in its order.
		return writeJSON(stdout, struct {
			ID        string           `json:"id"`
			Name      string           `json:"name"`
			Email     string           `json:"email"`
			Plan      quantumlock.Plan `json:"plan"`
			APIKey    string           `json:"api_key"`
			CreatedAt string           `json:"created_at"`
		}{c.ID, c.Name, c.Email, c.Plan, secret, c.CreatedAt.Format(time.RFC3339)})
	case "update":
		if len(pos) != 1 {
			return errors.New("customers update: want exactly one CUSTOMER_ID")
		}
		c, err := env.accounts.UpdateCustomer(ctx, pos[0], quantumlock.CustomerUpdate{
			Plan: plan.v, LicensesPerMonth: lpm.v, RequestsPerMinute: rpm.v,
			ResetLicensesPerMonth: lpm.reset, ResetRequestsPerMinute: rpm.reset})
		if err != nil {
			return errors.New(flagMessage(err))
		}
		return writeJSON(stdout, customerOut(c))
	default:
		cs, err := env.db.Customers(ctx)
		if err != nil {
			return err
		}
		out := make([]customerJSON, len(cs))
		for i, c := range cs {
			out[i] = customerOut(c)
		}
		return writeJSON(stdout, out)
	}
}

// apiKeyJSON is how apikeys create shows the key it made, with its secret,
// which appears only there (SPEC §2 gives its four fields).
type apiKeyJSON struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	APIKey     string `json:"api_key"`
	CreatedAt  string `json:"created_at"`
}

// apiKeyInfoJSON is how apikeys list and revoke show a key: its hint
// instead of the secret, and revoked_at, null while the key is active.
type apiKeyInfoJSON struct {
	ID         string  `json:"id"`
	CustomerID string  `json:"customer_id"`
	Hint       string  `json:"hint"`
	CreatedAt  string  `json:"created_at"`
	RevokedAt  *string `json:"revoked_at"`
}

func apiKeyOut(k *quantumlock.APIKey) apiKeyInfoJSON {
	out := apiKeyInfoJSON{ID: k.ID, CustomerID: k.CustomerID, Hint: k.Hint + "…", CreatedAt: k.CreatedAt.Format(time.RFC3339)}
	if k.RevokedAt != nil {
		s := k.RevokedAt.Format(time.RFC3339)
		out.RevokedAt = &s
	}
	return out
}

func runAPIKeys(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("apikeys: want create, list or revoke")
	}
	sub, args := args[0], args[1:]
	if isHelp(sub) {
		fmt.Fprintln(stdout, `usage: quantumlock apikeys create|list|revoke [flags]; "quantumlock apikeys create -h" shows create's flags`)
		return nil
	}
	fs := flag.NewFlagSet("apikeys "+sub, flag.ContinueOnError)
	fs.SetOutput(stdout)
	dbPath := fs.String("db", "quantumlock.db", "SQLite database file")
	var customer *string
	switch sub {
	case "create", "list":
		customer = fs.String("customer", "", "customer id (required)")
	case "revoke":
	default:
		return fmt.Errorf("apikeys: unknown subcommand %q (want create, list or revoke)", sub)
	}
	setUsage(fs, map[string]string{
		"create": "apikeys create --customer CUSTOMER_ID [flags]",
		"list":   "apikeys list --customer CUSTOMER_ID [flags]",
		"revoke": "apikeys revoke KEY_ID [flags]",
	}[sub])
	pos, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if sub != "revoke" {
		if err := noArguments(fs, pos); err != nil {
			return err
		}
	}
	if customer != nil && *customer == "" {
		return fmt.Errorf("apikeys %s: --customer is required", sub)
	}
	env, _, err := openAdmin(ctx, *dbPath, false)
	if err != nil {
		return err
	}
	defer env.db.Close()

	switch sub {
	case "create":
		k, secret, err := env.accounts.CreateAPIKey(ctx, *customer)
		if err != nil {
			return errors.New(cliMessage(err))
		}
		return writeJSON(stdout, apiKeyJSON{ID: k.ID, CustomerID: k.CustomerID, APIKey: secret, CreatedAt: k.CreatedAt.Format(time.RFC3339)})
	case "list":
		if _, err := env.db.Customer(ctx, *customer); err != nil {
			return errors.New(cliMessage(err))
		}
		ks, err := env.db.APIKeys(ctx, *customer)
		if err != nil {
			return err
		}
		out := make([]apiKeyInfoJSON, len(ks))
		for i, k := range ks {
			out[i] = apiKeyOut(k)
		}
		return writeJSON(stdout, out)
	default:
		if len(pos) != 1 {
			return errors.New("apikeys revoke: want exactly one KEY_ID")
		}
		k, err := env.db.RevokeAPIKey(ctx, pos[0], time.Now().UTC())
		if err != nil {
			return errors.New(cliMessage(err))
		}
		return writeJSON(stdout, apiKeyOut(k))
	}
}

func runVersion(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stdout)
	if pos, err := parseFlags(fs, args, getenv); err != nil {
		return err
	} else if err := noArguments(fs, pos); err != nil {
		return err
	}
	return writeJSON(stdout, map[string]string{"version": quantumlock.Version})
}

// setUsage has fs's -h print how the command is called, its arguments
// included, before its flags: the flag package's own first line names
// only the command.
func setUsage(fs *flag.FlagSet, call string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: quantumlock %s\n", call)
		fs.PrintDefaults()
	}
}
