package firehose

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeFrame: any input either fails to decode, or decodes to a frame
// whose re-encoding decodes to an equal value and is a fixed point of
// decode-encode. PeekSeq agrees with the decoded seq.
func FuzzDecodeFrame(f *testing.F) {
	for _, vf := range loadScenarioFrames(f) {
		f.Add(vf.bytes)
	}
	for _, vf := range loadFirehoseCommits(f) {
		f.Add(vf.bytes)
		f.Add(vf.raw)
	}
	for _, s := range samples() {
		b, err := EncodeFrame(s.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range rejectCases(f) {
		if len(c.frame) < 64<<10 { // the huge ones only slow the fuzzer down
			f.Add(c.frame)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		seq, seqOK, peekErr := PeekSeq(b)
		if err != nil {
			if fr != (Frame{}) {
				t.Fatalf("error %v with a non-zero frame %+v", err, fr)
			}
			return
		}
		if peekErr != nil {
			t.Fatalf("PeekSeq failed on a frame that decodes: %v", peekErr)
		}
		if wantSeq, ok := fr.Seq(); ok != seqOK || (ok && wantSeq != seq) {
			t.Fatalf("PeekSeq = %d %v, Seq = %d %v", seq, seqOK, wantSeq, ok)
		}
		// Only the four account events carry a seq, a DID and a time.
		account := isAccountEvent(fr.Msg)
		if _, ok := fr.Seq(); ok != account {
			t.Fatalf("Seq ok %v for %T", ok, fr.Msg)
		}
		if did := fr.DID(); did != "" && !account {
			t.Fatalf("DID %q for %T", did, fr.Msg)
		}
		if _, ok := fr.Time(); ok && !account {
			t.Fatalf("Time on a %T, which has no time field", fr.Msg)
		}
		if fr.Msg == nil {
			if fr.Op != OpMessage || fr.Type == "" {
				t.Fatalf("unknown frame %+v", fr)
			}
			return
		}
		if _, err := fr.MarshalJSON(); err != nil {
			t.Fatalf("JSON of a decoded frame: %v", err)
		}
		re, err := EncodeFrame(fr.Msg)
		if errors.Is(err, ErrFrameTooBig) {
			return // required fields the input left out can push it over
		}
		if err != nil {
			t.Fatalf("re-encode %+v: %v", fr.Msg, err)
		}
		fr2, err := DecodeFrame(re)
		if err != nil {
			t.Fatalf("decode re-encoded %x: %v", re, err)
		}
		if !reflect.DeepEqual(fr, fr2) {
			t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr.Msg, fr2.Msg)
		}
		re2, err := EncodeFrame(fr2.Msg)
		if err != nil || !bytes.Equal(re, re2) {
			t.Fatalf("encoding is not a fixed point: %v\n%x\n%x", err, re, re2)
		}
	})
}

// isAccountEvent reports whether m is one of the four sequenced events.
func isAccountEvent(m Message) bool {
	switch m.(type) {
	case *Commit, *Sync, *Identity, *Account:
		return !isNil(m)
	}
	return false
}
