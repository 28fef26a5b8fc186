package sqlite

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestDecodeFeatures checks that the direct split and the JSON decoder
// agree, and that the split declines whatever it cannot read exactly.
func TestDecodeFeatures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		split bool // splitPlainStrings takes it
	}{
		{`["pro"]`, true},
		{`["pro","sso","audit-log"]`, true},
		{`[""]`, true},
		{`["",""]`, true},
		{`["ünïcødé","日本"]`, true},
		{`["a,b","c\"d"]`, false},
		{`["a\u003cb"]`, false},
		{`["a", "b"]`, false},
		{`["a",]`, false},
		{`["a""b"]`, false},
		{`["a"`, false},
		{`[1]`, false},
		{`["a\tb"]`, false},
		{"[\"a\x01\"]", false},
		{"[\"\xff\"]", false},
		{`{"a":1}`, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := splitPlainStrings(tc.in)
			if ok != tc.split {
				t.Fatalf("split %v, want %v", ok, tc.split)
			}
			var want []string
			werr := json.Unmarshal([]byte(tc.in), &want)
			if ok && (werr != nil || !slices.Equal(got, want)) {
				t.Fatalf("split %q, JSON decoder %q (%v)", got, want, werr)
			}
			// decodeFeatures gives the decoder's answer either way.
			d, err := decodeFeatures(tc.in)
			if (err != nil) != (werr != nil) || (err == nil && !slices.Equal(d, want)) {
				t.Fatalf("decodeFeatures %q, %v; JSON decoder %q, %v", d, err, want, werr)
			}
		})
	}
}

// FuzzSplitPlainStrings checks that whatever the split accepts, the JSON
// decoder reads the same way.
func FuzzSplitPlainStrings(f *testing.F) {
	for _, s := range []string{`["pro"]`, `["a","b"]`, `[""]`, `["a\"b"]`, `["é"]`, `[]`, `["a",`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := splitPlainStrings(s)
		if !ok {
			return
		}
		var want []string
		if err := json.Unmarshal([]byte(s), &want); err != nil || !slices.Equal(got, want) {
			t.Fatalf("%q: split %q, JSON decoder %q (%v)", s, got, want, err)
		}
	})
}
