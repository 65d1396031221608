package syntax

import "testing"

// sinkErr keeps results alive so the compiler cannot drop the parse.
var sinkErr error

func BenchmarkParseATURI(b *testing.B) {
	const s = "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l3qo2vxaaw22"
	b.ReportAllocs()
	for b.Loop() {
		_, sinkErr = ParseATURI(s)
	}
}

func BenchmarkParseTID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, sinkErr = ParseTID("3l3qo2vxaaw22")
	}
}

func BenchmarkClockNext(b *testing.B) {
	c := NewClock(0)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Next()
	}
}

func BenchmarkParseDID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, sinkErr = ParseDID("did:plc:ewvi7nxzyoun6zhxrhs64oiz")
	}
}

func BenchmarkParseNSID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, sinkErr = ParseNSID("app.bsky.feed.post")
	}
}

func BenchmarkValidRepoPath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !ValidRepoPath("app.bsky.feed.post/3l3qo2vxaaw22") {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkParseDatetime(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, sinkErr = ParseDatetime("2024-09-09T19:46:02.329Z")
	}
}

func BenchmarkParseLanguage(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, sinkErr = ParseLanguage("en-US")
	}
}
