package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

func TestHelpListsCommands(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"help"}, noEnv, &out, &errOut); err != nil {
		t.Fatalf("help: %v", err)
	}
	for _, name := range []string{"help", "version", "dev"} {
		if !strings.Contains(out.String(), "  "+name+" ") {
			t.Errorf("help does not list %q:\n%s", name, out.String())
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"version"}, noEnv, &out, &errOut); err != nil {
		t.Fatalf("version: %v", err)
	}
	if !strings.HasPrefix(out.String(), "conflux ") || !strings.Contains(out.String(), "go1.") {
		t.Fatalf("version output %q", out.String())
	}
	if err := run(t.Context(), []string{"version", "extra"}, noEnv, &out, &errOut); !errors.Is(err, errUsage) {
		t.Fatalf("version with an argument: got %v, want a usage error", err)
	}
}

func TestUnknownAndMissingCommand(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	for _, args := range [][]string{nil, {"no-such-command"}} {
		err := run(t.Context(), args, noEnv, &out, &errOut)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("run(%q) = %v, want a usage error with exit code 2", args, err)
		}
	}
}

func TestDevUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"dev", "extra"}, {"dev", "--users", "-1"}, {"dev", "--status-every", "0s"}} {
		if err := run(t.Context(), args, noEnv, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}
