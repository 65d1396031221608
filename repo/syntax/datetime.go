package syntax

import (
	"strings"
	"time"
)

// MaxDatetimeLen is the length limit on a datetime string.
const MaxDatetimeLen = 64

// maxFractionDigits bounds the fractional seconds, as the reference
// validators do; 20 digits is far past any real clock's precision.
const maxFractionDigits = 20

// datetimeLayout is the preferred atproto form: UTC, millisecond precision.
const datetimeLayout = "2006-01-02T15:04:05.000Z"

// Datetime is a valid Lexicon datetime: an RFC 3339 timestamp that is also
// ISO 8601, such as "1985-04-12T23:20:50.123Z". Obtain one from
// ParseDatetime, ParseDatetimeLenient or NewDatetime.
type Datetime string

// ParseDatetime validates s strictly against the Lexicon datetime format:
//
//	YYYY-MM-DD "T" hh:mm:ss [ "." 1-20 digits ] ( "Z" | ("+"|"-") hh:mm )
//
// with upper-case 'T' and 'Z', real calendar dates (leap years included),
// hours 00-23, minutes and seconds 00-59 (no leap second), and no "-00:00"
// offset. The instant must not fall before year 0 once the offset is
// applied.
func ParseDatetime(s string) (Datetime, error) {
	if _, reason := scanDatetime(s); reason != "" {
		return "", invalid(ErrInvalidDatetime, s, reason)
	}
	return Datetime(s), nil
}

// digits parses n ASCII digits at s[i:], returning -1 if any is not a digit.
func digits(s string, i, n int) int {
	v := 0
	for j := i; j < i+n; j++ {
		if !isDigit(s[j]) {
			return -1
		}
		v = v*10 + int(s[j]-'0')
	}
	return v
}

// scanDatetime parses a strict datetime into a time.Time.
func scanDatetime(s string) (time.Time, string) {
	const fixed = len("2006-01-02T15:04:05")
	if len(s) > MaxDatetimeLen {
		return time.Time{}, "longer than 64 characters"
	}
	if len(s) < fixed+1 {
		return time.Time{}, "too short"
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, "must look like YYYY-MM-DDThh:mm:ss"
	}
	year, month, day := digits(s, 0, 4), digits(s, 5, 2), digits(s, 8, 2)
	hour, minute, sec := digits(s, 11, 2), digits(s, 14, 2), digits(s, 17, 2)
	if year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || sec < 0 {
		return time.Time{}, "date and time fields must be zero-padded digits"
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return time.Time{}, "no such calendar date"
	}
	if hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, "time of day out of range"
	}
	i := fixed
	nanos := 0
	if s[i] == '.' {
		i++
		start := i
		for i < len(s) && isDigit(s[i]) {
			if i-start < 9 {
				nanos = nanos*10 + int(s[i]-'0')
			}
			i++
		}
		n := i - start
		if n == 0 || n > maxFractionDigits {
			return time.Time{}, "fractional seconds must have 1 to 20 digits"
		}
		for ; n < 9; n++ {
			nanos *= 10
		}
	}
	loc, reason := scanOffset(s[i:])
	if reason != "" {
		return time.Time{}, reason
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, loc)
	if t.UTC().Year() < 0 {
		return time.Time{}, "falls before year 0 in UTC"
	}
	return t, ""
}

// scanOffset parses the time zone: "Z" or "+hh:mm" / "-hh:mm".
func scanOffset(z string) (*time.Location, string) {
	if z == "Z" {
		return time.UTC, ""
	}
	if len(z) != 6 || (z[0] != '+' && z[0] != '-') || z[3] != ':' {
		return nil, `time zone must be "Z" or ±hh:mm`
	}
	h, m := digits(z, 1, 2), digits(z, 4, 2)
	if h < 0 || m < 0 || h > 23 || m > 59 {
		return nil, "time zone offset out of range"
	}
	if z == "-00:00" {
		return nil, `"-00:00" (unknown offset) is not allowed; use "Z"`
	}
	off := (h*60 + m) * 60
	if z[0] == '-' {
		off = -off
	}
	if off == 0 {
		return time.UTC, ""
	}
	return time.FixedZone("", off), ""
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Time returns the instant, keeping the string's offset as a fixed zone.
// It returns the zero time for a value that did not come from this
// package's constructors and does not parse.
func (d Datetime) Time() time.Time {
	t, _ := scanDatetime(string(d))
	return t
}

// String returns the datetime exactly as parsed.
func (d Datetime) String() string { return string(d) }

// MarshalText implements encoding.TextMarshaler.
func (d Datetime) MarshalText() ([]byte, error) { return []byte(d), nil }

// UnmarshalText implements encoding.TextUnmarshaler and validates strictly.
func (d *Datetime) UnmarshalText(b []byte) error {
	v, err := ParseDatetime(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// NewDatetime formats t in the preferred form (UTC, millisecond precision,
// "Z"). Times outside years 0 to 9999 UTC cannot be written and are an error.
func NewDatetime(t time.Time) (Datetime, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", invalid(ErrInvalidDatetime, t.String(), "year outside 0000-9999")
	}
	return Datetime(t.Format(datetimeLayout)), nil
}

// lenientLayouts are the non-conforming forms seen in real records, tried in
// order after the strict parser fails. Layouts without a zone are read as UTC.
var lenientLayouts = [...]string{
	time.RFC3339Nano, // covers "-00:00" and lower-case 't'/'z'
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// ParseDatetimeLenient accepts everything ParseDatetime does, returned
// unchanged, plus common non-conforming timestamps found in older records:
// a missing time zone (read as UTC), "-00:00", lower-case 't'/'z', a space
// instead of 'T', offsets without a colon, a missing seconds field and a bare
// date. Those are returned re-formatted in the preferred strict form, so the
// result always passes ParseDatetime. Use it to index or sort legacy data,
// never to rewrite a record.
func ParseDatetimeLenient(s string) (Datetime, error) {
	if _, reason := scanDatetime(s); reason == "" {
		return Datetime(s), nil
	}
	if len(s) > MaxDatetimeLen {
		return "", invalid(ErrInvalidDatetime, s, "longer than 64 characters")
	}
	u := strings.ToUpper(s)
	for _, layout := range lenientLayouts {
		t, err := time.Parse(layout, u)
		if err != nil {
			continue
		}
		if d, err := NewDatetime(t); err == nil {
			return d, nil
		}
	}
	return "", invalid(ErrInvalidDatetime, s, "not a recognisable timestamp")
}
