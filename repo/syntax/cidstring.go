package syntax

// ValidCIDString reports whether s passes the loose Lexicon "cid" string
// format check: 8 to 256 characters of [A-Za-z0-9+=] (the union of the
// common multibase alphabets), and not a legacy CIDv0 ("Qm..." base58, 46
// characters), which atproto does not use.
//
// This is a syntax check only; it does not decode the multibase or check
// the codec and hash. Use the repo/cid package for a strict binary-level
// parse of the atproto blessed CID subset.
func ValidCIDString(s string) bool {
	if len(s) < 8 || len(s) > 256 {
		return false
	}
	if len(s) == 46 && s[0] == 'Q' && s[1] == 'm' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '+' && c != '=' {
			return false
		}
	}
	return true
}
