package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestCommandLineVersion(t *testing.T) {
	code, version, stderr := dialtone(t, "version")
	if code != 0 || !strings.HasPrefix(version, "dialtone ") || strings.Count(version, "\n") != 1 || stderr != "" {
		t.Fatalf("version: exit %d %q %q", code, version, stderr)
	}
	if !strings.Contains(version, buildVersion()) {
		t.Fatalf("version %q does not name the module version %q", version, buildVersion())
	}
	for _, args := range [][]string{{"--version"}, {"serve", "--version"}} {
		code, out, _ := dialtone(t, args...)
		if code != 0 || out != version {
			t.Fatalf("%v: exit %d %q, want %q", args, code, out, version)
		}
	}
}

func TestCommandLineCORSOrigins(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := dialtone(t, "serve", "--data", dir, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0", "--cors-origins", "crm.example.com")
	if code != 1 || !strings.Contains(stderr, "--cors-origins") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("bad --cors-origins: exit %d %q", code, stderr)
	}
}

// envVars maps each command (as typed) to the environment variables its
// flags read, walking the kong tags of cli.
func envVars(t reflect.Type, path string, out map[string][]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case f.Anonymous:
			envVars(f.Type, path, out)
		case hasTag(f.Tag, "cmd"):
			name := f.Tag.Get("name")
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			envVars(f.Type, strings.TrimSpace(path+" "+name), out)
		case f.Tag.Get("env") != "":
			out[path] = append(out[path], f.Tag.Get("env"))
		}
	}
}

func hasTag(tag reflect.StructTag, key string) bool {
	_, ok := tag.Lookup(key)
	return ok
}

// TestCommandLineHelpListsEveryEnvVar: each command's --help names every
// variable it reads, DIALTONE_ADMIN_KEY included, and so does the README.
func TestCommandLineHelpListsEveryEnvVar(t *testing.T) {
	vars := map[string][]string{}
	envVars(reflect.TypeOf(cli{}), "", vars)
	vars["serve"] = append(vars["serve"], "DIALTONE_ADMIN_KEY")
	if len(vars["serve"]) < 10 || len(vars["keys create"]) == 0 {
		t.Fatalf("walked too few commands: %v", vars)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for cmd, names := range vars {
		code, help, _ := dialtone(t, append(strings.Fields(cmd), "--help")...)
		if code != 0 {
			t.Fatalf("%s --help: exit %d", cmd, code)
		}
		for _, name := range names {
			if !strings.Contains(help, name) {
				t.Errorf("dialtone %s --help does not name %s", cmd, name)
			}
			if !strings.Contains(string(readme), "`"+name+"`") {
				t.Errorf("README.md does not list %s (dialtone %s): add it to the options table", name, cmd)
			}
		}
	}
}
