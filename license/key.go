// Package license issues and validates license keys (SPEC §5): the key
// format, the HMAC-SHA3-512 signature over a canonical encoding of the
// license, the monthly quota rule and the order of validation checks. It
// holds the rules once; the stores below it only persist.
package license

import (
	"encoding/hex"
	"strings"
)

// KeyBytes is how many random bytes make a license key: 12 hex digits.
const KeyBytes = 6

// FormatKey renders 6 random bytes as QLOCK-XXXX-XXXX-XXXX.
func FormatKey(b [KeyBytes]byte) string {
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return "QLOCK-" + h[0:4] + "-" + h[4:8] + "-" + h[8:12]
}

// NormalizeKey returns s in canonical form (without the spaces, tabs and
// line breaks around it, in upper case) and reports whether it is a
// well-formed license key.
func NormalizeKey(s string) (string, bool) {
	s = strings.ToUpper(strings.Trim(s, " \t\r\n"))
	if len(s) != 20 || !strings.HasPrefix(s, "QLOCK-") || s[10] != '-' || s[15] != '-' {
		return s, false
	}
	for i := 6; i < 20; i++ {
		c := s[i]
		if i == 10 || i == 15 {
			continue
		}
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return s, false
		}
	}
	return s, true
}
