package syntax

import (
	"errors"
	"testing"
	"time"
)

func TestDatetimeTime(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want time.Time
	}{
		{"1985-04-12T23:20:50.123Z", time.Date(1985, 4, 12, 23, 20, 50, 123_000_000, time.UTC)},
		{"1985-04-12T23:20:50Z", time.Date(1985, 4, 12, 23, 20, 50, 0, time.UTC)},
		{"1985-04-12T23:20:50.1235678912345Z", time.Date(1985, 4, 12, 23, 20, 50, 123_567_891, time.UTC)},
		{"1985-04-12T23:20:50.123-07:00", time.Date(1985, 4, 13, 6, 20, 50, 123_000_000, time.UTC)},
		{"1985-04-12T23:20:50.1+01:45", time.Date(1985, 4, 12, 21, 35, 50, 100_000_000, time.UTC)},
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"2000-02-29T00:00:00Z", time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"0000-01-01T00:00:00.000Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		d, err := ParseDatetime(c.in)
		if err != nil {
			t.Errorf("ParseDatetime(%q): %v", c.in, err)
			continue
		}
		if got := d.Time(); !got.Equal(c.want) {
			t.Errorf("%q: Time = %v, want %v", c.in, got, c.want)
		}
		// The reference parser agrees on the instant.
		if ref, err := time.Parse(time.RFC3339Nano, c.in); err != nil || !ref.Equal(d.Time()) {
			t.Errorf("%q: time.Parse = %v, %v", c.in, ref, err)
		}
	}
	if !Datetime("garbage").Time().IsZero() {
		t.Error("unvalidated Datetime has a non-zero Time")
	}
}

func TestDatetimeRejects(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"2023-02-29T00:00:00Z", // not a leap year
		"1900-02-29T00:00:00Z", // century, not a leap year
		"1985-04-31T00:00:00Z",
		"1985-04-12T24:00:00Z",
		"1985-04-12T23:59:60Z", // leap seconds cannot be represented
		"1985-04-12T23:20:50.123+24:00",
		"1985-04-12T23:20:50.123+00:60",
		"1985-04-12T23:20:50.123456789012345678901Z", // 21 fraction digits
		"1985-04-12T23:20:50,123Z",
		"1985-04-12T23:20:50.123ZZ",
		"",
	} {
		if _, err := ParseDatetime(bad); !errors.Is(err, ErrInvalidDatetime) {
			t.Errorf("ParseDatetime(%q) err = %v", bad, err)
		}
	}
}

func TestParseDatetimeLenient(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"1985-04-12T23:20:50.123456Z", "1985-04-12T23:20:50.123456Z"}, // strict input kept as is
		{"1985-04-12T23:20:50.123+07:00", "1985-04-12T23:20:50.123+07:00"},
		{"1985-04-12T23:20:50.123-00:00", "1985-04-12T23:20:50.123Z"},
		{"1985-04-12t23:20:50.123z", "1985-04-12T23:20:50.123Z"},
		{"1985-04-12T23:20:50.123", "1985-04-12T23:20:50.123Z"},
		{"1985-04-12T23:20:50", "1985-04-12T23:20:50.000Z"},
		{"1985-04-12 23:20:50.123Z", "1985-04-12T23:20:50.123Z"},
		{"1985-04-12T23:20:50.123+0100", "1985-04-12T22:20:50.123Z"},
		{"1985-04-12T23:20:50.123+01", "1985-04-12T22:20:50.123Z"},
		{"1985-04-12T23:20Z", "1985-04-12T23:20:00.000Z"},
		{"1985-04-12", "1985-04-12T00:00:00.000Z"},
	}
	for _, c := range cases {
		d, err := ParseDatetimeLenient(c.in)
		if err != nil {
			t.Errorf("ParseDatetimeLenient(%q): %v", c.in, err)
			continue
		}
		if string(d) != c.want {
			t.Errorf("ParseDatetimeLenient(%q) = %q, want %q", c.in, d, c.want)
		}
		if _, err := ParseDatetime(string(d)); err != nil {
			t.Errorf("lenient result %q is not strict-valid: %v", d, err)
		}
	}
	for _, bad := range []string{"", "yesterday", "0000-01-01T00:00:00+01:00", "1985-13-12T00:00:00", "12345"} {
		if d, err := ParseDatetimeLenient(bad); !errors.Is(err, ErrInvalidDatetime) {
			t.Errorf("ParseDatetimeLenient(%q) = %q, %v; want error", bad, d, err)
		}
	}
}

func TestNewDatetime(t *testing.T) {
	t.Parallel()
	in := time.Date(2024, 9, 9, 19, 46, 2, 329_308_000, time.FixedZone("x", 3600))
	d, err := NewDatetime(in)
	if err != nil || d != "2024-09-09T18:46:02.329Z" {
		t.Fatalf("NewDatetime = %q, %v", d, err)
	}
	if _, err := NewDatetime(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrInvalidDatetime) {
		t.Errorf("negative year: err %v", err)
	}
	if _, err := NewDatetime(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrInvalidDatetime) {
		t.Errorf("five-digit year: err %v", err)
	}
}
