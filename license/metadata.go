package license

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/quantumlock/quantumlock"
)

// checkMetadata returns EINVALID unless raw, valid JSON, is an object that
// every JSON reader reads the same way: no object in it, at any depth,
// names a member twice (readers disagree on which value wins, or refuse
// it), and every number fits a float64 (1e999 is JSON, but most readers,
// Go's among them, fail on it). Metadata is stored and answered byte for
// byte, so what is accepted here is what the vendor's own software will
// be handed back.
func checkMetadata(raw json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return quantumlock.Errorf(quantumlock.EINVALID, "metadata must be a JSON object.")
	}
	// One frame per open object or array; an object's frame holds the
	// names seen so far and whether its next token is a name.
	type frame struct {
		names    map[string]struct{}
		wantName bool
	}
	stack := []*frame{{names: map[string]struct{}{}, wantName: true}}
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return quantumlock.Errorf(quantumlock.EINVALID, "metadata must be a JSON object: %v.", err)
		}
		top := stack[len(stack)-1]
		if top.names != nil && top.wantName {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				continue
			}
			name := tok.(string) // the decoder allows nothing else here
			if _, dup := top.names[name]; dup {
				return quantumlock.Errorf(quantumlock.EINVALID, "metadata: the name %q appears twice in one object.", name)
			}
			top.names[name] = struct{}{}
			top.wantName = false
			continue
		}
		// A value, of an object's member or in an array.
		if top.names != nil {
			top.wantName = true
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &frame{names: map[string]struct{}{}, wantName: true})
			case '[':
				stack = append(stack, &frame{})
			case ']':
				stack = stack[:len(stack)-1]
			}
		case json.Number:
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				return quantumlock.Errorf(quantumlock.EINVALID, "metadata: the number %.32s is out of range.", v)
			}
		}
	}
	// One object and nothing after it: the API's decoder hands over one
	// value, but a caller of the package might not.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return quantumlock.Errorf(quantumlock.EINVALID, "metadata must be a single JSON object with nothing after it.")
	}
	return nil
}
