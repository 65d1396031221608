package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// conflux bench runs a scenario end to end and prints JSON or a table.
func TestBenchReplayJSON(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	args := []string{"bench", "replay", "--events", "1500", "--json", "--bound-duration", "50ms", "--dir", t.TempDir()}
	if err := run(t.Context(), args, noEnv, &out, &errOut); err != nil {
		t.Fatalf("bench replay: %v\n%s", err, errOut.String())
	}
	var got struct {
		Scenario string `json:"scenario"`
		Result   struct {
			Events int64 `json:"events"`
			Tail   struct {
				Received int64 `json:"received"`
			} `json:"fromTail"`
			Bound struct {
				PerSecond float64 `json:"verificationsPerSecond"`
			} `json:"bound"`
		} `json:"result"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if got.Scenario != "replay" || got.Result.Events != 1500 || got.Result.Tail.Received != 1500 || got.Result.Bound.PerSecond <= 0 {
		t.Errorf("result %+v", got)
	}
	// The progress bar went to stderr, never into the JSON.
	if !strings.Contains(errOut.String(), "replay from the tail") {
		t.Errorf("no progress on stderr: %q", errOut.String())
	}
}

func TestBenchTable(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	args := []string{"bench", "feed-serve", "--posts", "300", "--clients", "2", "--duration", "200ms", "--quiet", "--bound-duration", "50ms", "--dir", t.TempDir()}
	if err := run(t.Context(), args, noEnv, &out, &errOut); err != nil {
		t.Fatalf("bench feed-serve: %v", err)
	}
	for _, want := range []string{"feed-serve", "signature bound", "closed loop", "paced"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if errOut.Len() != 0 {
		t.Errorf("--quiet still wrote %q", errOut.String())
	}
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"bench"}, {"bench", "nope"}, {"bench", "replay", "--events", "x"}, {"bench", "replay", "extra"}} {
		var out, errOut bytes.Buffer
		if err := run(t.Context(), args, noEnv, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"bench", "-h"}, noEnv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"relay-ingest", "fanout", "replay", "appview-index", "feed-serve", "e2e"} {
		if !strings.Contains(errOut.String(), s) {
			t.Errorf("help lacks %s", s)
		}
	}
}
