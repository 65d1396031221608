package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Row is one line of a result table.
type Row struct {
	Metric string
	Value  string
}

// Table is what a scenario prints at the end: a title, rows, and notes
// that say how the numbers were measured.
type Table struct {
	Title string
	Rows  []Row
	Notes []string
}

func (t *Table) add(metric, format string, args ...any) {
	t.Rows = append(t.Rows, Row{Metric: metric, Value: fmt.Sprintf(format, args...)})
}

func (t *Table) note(format string, args ...any) {
	t.Notes = append(t.Notes, fmt.Sprintf(format, args...))
}

// Result is what every scenario returns.
type Result interface {
	Table() Table
}

// WriteTable prints t in aligned columns.
func WriteTable(w io.Writer, t Table) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n%s\n", t.Title, strings.Repeat("=", len(t.Title)))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, r := range t.Rows {
		fmt.Fprintf(tw, "%s\t%s\n", r.Metric, r.Value)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range t.Notes {
		fmt.Fprintf(&b, "  * %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints r as indented JSON with the scenario's name.
func WriteJSON(w io.Writer, scenario string, r Result) error {
	out := struct {
		Scenario string `json:"scenario"`
		Result   Result `json:"result"`
	}{scenario, r}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
