// Command dialtone runs the Dialtone PBX and its maintenance tasks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/alecthomas/kong"

	_ "time/tzdata" // time zones validate even on hosts without zoneinfo
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

type cli struct {
	VersionFlag kong.VersionFlag `name:"version" help:"Print the version and exit."`

	Serve   serveCmd   `cmd:"" help:"Run the PBX: the REST API on an embedded database."`
	Keys    keysCmd    `cmd:"" help:"Create, list and revoke API keys in the data dir, with the server stopped or running."`
	OpenAPI openAPICmd `cmd:"" name:"openapi" help:"Print the OpenAPI 3.1 document as YAML."`
	Migrate migrateCmd `cmd:"" help:"Apply database migrations and exit."`
	Version versionCmd `cmd:"" help:"Print the version and exit."`
}

type env struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// run parses args and runs the chosen command; it returns the process exit code.
func run(ctx context.Context, args []string, e env) int {
	var c cli
	exited := false
	parser, err := kong.New(&c,
		kong.Name("dialtone"),
		kong.Description("Dialtone: a headless, API-first PBX."),
		kong.Writers(e.stdout, e.stderr),
		kong.Exit(func(int) { exited = true }),
		kong.Vars{"version": versionLine()},
		kong.Bind(e),
		kong.BindTo(ctx, (*context.Context)(nil)),
	)
	if err != nil {
		fmt.Fprintf(e.stderr, "dialtone: %v\n", err)
		return 2
	}
	kctx, err := parser.Parse(args)
	if exited {
		return 0 // --help
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "dialtone: %v\n", err)
		return 2
	}
	if err := kctx.Run(); err != nil {
		fmt.Fprintf(e.stderr, "dialtone: %v\n", oneLine(err))
		return 1
	}
	return 0
}

func oneLine(err error) string {
	var ue interface{ Unwrap() []error }
	if errors.As(err, &ue) {
		return fmt.Sprint(ue.Unwrap()[0])
	}
	return err.Error()
}

// buildVersion is the module version: set at link time, stamped by the Go
// toolchain from the VCS, or "(devel)".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// versionLine is what `dialtone version` and --version print: the module
// version, and the VCS revision the binary was built from when known.
func versionLine() string {
	line := "dialtone " + buildVersion()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return line
	}
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		line += " (revision " + rev + modified
		if at != "" {
			line += ", " + at
		}
		line += ")"
	}
	return line + ", " + bi.GoVersion
}

type versionCmd struct{}

func (versionCmd) Run(e env) error {
	_, err := fmt.Fprintln(e.stdout, versionLine())
	return err
}
