package crypto

import "testing"

// Run: go test -run '^$' -bench . -benchmem ./repo/crypto

func BenchmarkVerify(b *testing.B) {
	for _, c := range curves {
		b.Run(c.alg, func(b *testing.B) {
			priv := mustGenerate(b, c)
			// Reparse so the benchmark uses a key as a relay holds it: parsed
			// once from the DID document, then reused.
			pub, err := ParseDIDKey(priv.Public().DIDKey())
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, 200) // about the size of an unsigned commit
			sig := mustSign(b, priv, msg)
			b.ReportAllocs()
			for b.Loop() {
				if err := pub.Verify(msg, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, c := range curves {
		b.Run(c.alg, func(b *testing.B) {
			priv := mustGenerate(b, c)
			msg := make([]byte, 200)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := priv.Sign(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParsePublicMultibase(b *testing.B) {
	for _, c := range curves {
		b.Run(c.alg, func(b *testing.B) {
			mb := mustGenerate(b, c).Public().Multibase()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParsePublicMultibase(mb); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
