package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Main runs weightgate's commands. Tests drive it directly.
type Main struct {
	Stdout, Stderr io.Writer
	// Ready, if set, is called by serve once it is listening, with its URL.
	Ready func(url string)
	// AdminReady, if set, is called by serve before Ready with the admin
	// listener's URL, when there is one.
	AdminReady func(url string)
}

// NewMain returns a Main writing to the process's standard streams.
func NewMain() *Main { return &Main{Stdout: os.Stdout, Stderr: os.Stderr} }

const usage = `weightgate: a model-weight export control gateway in front of S3-compatible storage.

Usage:
  weightgate serve  --config FILE            run the gateway
  weightgate check  --config FILE --model ORG/NAME [...]
                                             what-if: print the policy decision, download nothing
  weightgate matrix --config FILE --model ORG/NAME [--format table|csv|html] [--time T]
                                             what-if: the decision for every country x requester profile
  weightgate replay --audit FILE|DIR... --policy BUNDLE [--format text|json]
                                             what-if: the recorded decisions a proposed bundle would change
  weightgate policy test [DIR|NAME] [--coverage] [--min-coverage N] [-v]
                                             run a bundle's Rego tests and report their coverage
  weightgate classify sign|verify [...]       sign a model's export.yaml with a compliance key; check one
  weightgate token  --key PEM --sub ID [...] print a signed token (development and tests)
  weightgate audit  verify|query FILE|DIR... [--anchor s3://BUCKET/PREFIX]
                                             check the audit trail's integrity (against its anchor); search it
  weightgate version                         print the module version and VCS revision it was built from

Run "weightgate COMMAND --help" for a command's flags.
`

// errDenied makes check exit 1: the command worked and the answer is no.
var errDenied = errors.New("denied")

// errTampered makes audit verify exit 1: the trail failed verification.
var errTampered = errors.New("audit trail failed verification")

// exitCode maps Run's error to the process exit status: 0 ok, 1 a policy
// denial from check, a trail that fails audit verify or a failing policy
// test, or a classification that classify verify rejects; 2 any error
// (bad flags, config, storage...).
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errDenied), errors.Is(err, errTampered), errors.Is(err, errTestsFailed), errors.Is(err, errUnverified):
		return 1
	}
	return 2
}

// Run executes the command named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errors.New("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return m.serve(ctx, rest)
	case "check":
		return m.check(ctx, rest)
	case "matrix":
		return m.matrix(ctx, rest)
	case "replay":
		return m.replay(ctx, rest)
	case "policy":
		return m.policy(ctx, rest)
	case "token":
		return m.token(rest)
	case "classify":
		return m.classify(ctx, rest)
	case "audit":
		return m.audit(ctx, rest)
	case "version":
		return m.version(rest)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, usage)
		return flag.ErrHelp
	default:
		fmt.Fprint(m.Stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// newFlagSet returns a flag set whose --help prints to stdout and whose
// errors are returned, not fatal.
func (m *Main) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: weightgate %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and refuses stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("must be debug, info, warn or error")
	}
	return l, nil
}

func newLogger(w io.Writer, c LogConfig) *slog.Logger {
	level, _ := parseLevel(c.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
