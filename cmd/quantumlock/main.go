// Command quantumlock runs the QuantumLock license-key service and
// administers its customers and API keys (SPEC §2).
//
//	quantumlock serve [--addr 127.0.0.1:8080] [--db quantumlock.db] [--dev] …
//	quantumlock customers create|list|update …
//	quantumlock apikeys create|list|revoke …
//	quantumlock backup --to FILE [--db quantumlock.db]
//	quantumlock restore --from FILE [--db quantumlock.db]
//	quantumlock version
//
// Every flag has an environment twin QUANTUMLOCK_<FLAG> (dashes become
// underscores); a flag given on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	// The first signal may have stopped a restore already, so the line
	// says only what is true either way.
	ctx, release := shutdownContext(os.Stderr, endsAtSecondSignal(os.Args[1:]),
		"quantumlock: interrupt ignored: a restore stops only before it begins to replace the database, and then finishes")
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	release()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "quantumlock:", oneLine(err.Error()))
		os.Exit(1)
	}
}

// endsAtSecondSignal reports whether a second SIGINT or SIGTERM ends the
// command args name at once: every command's but restore's, which once it
// has begun to replace the database must finish (docs/storage.md).
func endsAtSecondSignal(args []string) bool { return len(args) == 0 || args[0] != "restore" }

const usage = `usage: quantumlock <command> [flags]

commands:
  serve                       run the API server
  customers create|list|update  manage customers
  apikeys create|list|revoke  manage API keys
  backup                      copy the database, also while the server runs
  restore                     put a backup in place of the database
  version                     print the version

Run "quantumlock <command> -h" for a command's flags. Every flag has an
environment twin QUANTUMLOCK_<FLAG>, e.g. --db and QUANTUMLOCK_DB.
`

// run is the whole program, with its environment passed in so tests can run
// it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	// Errors are one line on stderr (SPEC §2), written by main; the usage
	// text goes to stdout, and only when asked for.
	if len(args) == 0 {
		return errors.New(`no command given; "quantumlock help" lists them`)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "customers":
		return runCustomers(ctx, rest, getenv, stdout, stderr)
	case "apikeys":
		return runAPIKeys(ctx, rest, getenv, stdout)
	case "backup":
		return runBackup(ctx, rest, getenv, stdout)
	case "restore":
		return runRestore(ctx, rest, getenv, stdout)
	case "version":
		return runVersion(rest, getenv, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf(`unknown command %q; "quantumlock help" lists them`, cmd)
	}
}

// isHelp reports whether a command's first argument asks for its usage.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

// parseFlags parses args into fs, allowing positional arguments between
// flags ("customers update CUST_ID --plan business"), then fills every flag
// not given on the command line from its QUANTUMLOCK_<FLAG> environment
// variable. It returns the positional arguments. A bad flag is an error
// naming fs's command, with nothing printed: the flag package's own
// message and usage text would make it several lines on stderr. -h prints
// the usage to fs's output and returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	pos, _, err := parseFlagsGiven(fs, args, getenv)
	return pos, err
}

// parseFlagsGiven is parseFlags that also returns the names of the flags
// given on the command line, as the parser read it: for settingName.
func parseFlagsGiven(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, map[string]bool, error) {
	// Put back before the usage is printed, which names each flag's
	// kind and default from its own value.
	restore := explainValues(fs)
	defer restore()
	out := fs.Output()
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(out)
	var positional []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			restore()
			fs.SetOutput(out)
			fs.Usage()
			return nil, nil, err
		} else if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				// Only flags that parse their value (numbers, durations,
				// booleans) fail here, so the value is no secret.
				err = fmt.Errorf("%s: invalid value %q: %w", name, v, e)
			}
		}
	})
	return positional, given, err
}

// explainValues makes each of fs's number, duration and boolean flags say
// what it wants when its value does not parse: the flag package's own
// "parse error" does not ("--shutdown-timeout 5" needs a unit). restore
// puts the flags' own values back.
func explainValues(fs *flag.FlagSet) (restore func()) {
	own := map[*flag.Flag]flag.Value{}
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return
		}
		own[f] = f.Value
		switch g.Get().(type) {
		case time.Duration:
			f.Value = explained{g, "a duration such as 15s, 500ms or 2m"}
		case int, int64, uint, uint64:
			f.Value = explained{g, "a whole number"}
		case bool:
			f.Value = explainedBool{explained{g, "true or false"}}
		}
	})
	return func() {
		for f, v := range own {
			f.Value = v
		}
	}
}

// explained is a flag value whose parse errors say what it wants.
type explained struct {
	flag.Getter
	want string
}

// Set sets the value, or says what it wants. (The flag package's errors
// are unexported: "parse error" is told by its text. Its other one, "value
// out of range", says enough.)
func (e explained) Set(s string) error {
	err := e.Getter.Set(s)
	if err != nil && err.Error() == "parse error" {
		return fmt.Errorf("%w; want %s", err, e.want)
	}
	return err
}

// explainedBool is explained for a boolean flag, which takes no value.
type explainedBool struct{ explained }

// IsBoolFlag tells the flag package that the flag takes no value.
func (explainedBool) IsBoolFlag() bool { return true }

// noArguments returns an error naming the first of pos, for commands that
// take flags only: a stray word (an unquoted name, say) would otherwise be
// dropped without a word.
func noArguments(fs *flag.FlagSet, pos []string) error {
	if len(pos) > 0 {
		return fmt.Errorf("%s: unexpected argument %q (values go after their flags; quote those with spaces)", fs.Name(), pos[0])
	}
	return nil
}

// envName returns a flag's environment twin.
func envName(flagName string) string {
	return "QUANTUMLOCK_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// settingName names where flag name's value came from, for a message about
// it: "--name" when the command line gave the flag (given, from
// parseFlagsGiven), else its environment twin when that is set, else
// "--name" (the default).
func settingName(given map[string]bool, getenv func(string) string, name string) string {
	if !given[name] && getenv(envName(name)) != "" {
		return envName(name)
	}
	return "--" + name
}

// oneLine keeps an error message to one line, as SPEC §2 wants on stderr.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
