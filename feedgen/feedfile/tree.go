package feedfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// value is a JSON value that remembers the line it started on, so that
// validation errors can name it.
type value struct {
	line int
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys []string
	obj  map[string]*value
	arr  []*value
	str  string
	num  float64
	b    bool
}

// maxDepth bounds nesting so a hostile file cannot exhaust the stack.
const maxDepth = 64

type treeParser struct {
	dec  *json.Decoder
	data []byte
}

func parseTree(data []byte) (*value, error) {
	p := &treeParser{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	p.dec.UseNumber()
	v, err := p.value(0)
	if err != nil {
		return nil, p.wrap(err)
	}
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("line %d: %w: trailing data after the top-level object", p.lineAt(p.dec.InputOffset()), ErrInvalid)
	}
	return v, nil
}

func (p *treeParser) wrap(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("line %d: %w: %v", p.lineAt(se.Offset), ErrInvalid, se)
	}
	if errors.Is(err, ErrInvalid) {
		return err
	}
	return fmt.Errorf("line %d: %w: %v", p.lineAt(p.dec.InputOffset()), ErrInvalid, err)
}

func (p *treeParser) lineAt(off int64) int {
	off = min(max(off, 0), int64(len(p.data)))
	return 1 + bytes.Count(p.data[:off], []byte{'\n'})
}

// nextLine is the line of the next token: skip whitespace and separators
// after the decoder's offset.
func (p *treeParser) nextLine() int {
	off := p.dec.InputOffset()
	for off < int64(len(p.data)) {
		switch p.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return p.lineAt(off)
}

func (p *treeParser) value(depth int) (*value, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: %w: nested deeper than %d", p.nextLine(), ErrInvalid, maxDepth)
	}
	line := p.nextLine()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	v := &value{line: line}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v.kind, v.obj = 'o', map[string]*value{}
			for p.dec.More() {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				if _, dup := v.obj[k]; dup {
					return nil, fmt.Errorf("line %d: %w: duplicate key %q", p.lineAt(p.dec.InputOffset()), ErrInvalid, k)
				}
				child, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k)
				v.obj[k] = child
			}
		case '[':
			v.kind = 'a'
			for p.dec.More() {
				child, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, child)
			}
		}
		if _, err := p.dec.Token(); err != nil { // closing delimiter
			return nil, err
		}
	case string:
		v.kind, v.str = 's', t
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return nil, err
		}
		v.kind, v.num = 'n', f
	case bool:
		v.kind, v.b = 'b', t
	case nil:
		v.kind = 'z'
	}
	return v, nil
}

func (v *value) errf(format string, args ...any) error {
	return fmt.Errorf("line %d: %w: %s", v.line, ErrInvalid, fmt.Sprintf(format, args...))
}

func (v *value) strings() ([]string, error) {
	if v.kind == 's' {
		return []string{v.str}, nil
	}
	if v.kind != 'a' || len(v.arr) == 0 {
		return nil, v.errf("want a string or a non-empty array of strings")
	}
	out := make([]string, len(v.arr))
	for i, e := range v.arr {
		if e.kind != 's' {
			return nil, e.errf("want a string")
		}
		out[i] = e.str
	}
	return out, nil
}
