package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/quantumlock/quantumlock"
)

// MaxBodyBytes bounds every request body (SPEC §4).
const MaxBodyBytes = 1 << 20

// statusOf is the one place error codes become HTTP statuses.
func statusOf(code string) int {
	switch code {
	case quantumlock.EINVALID, quantumlock.EDECRYPT:
		return http.StatusBadRequest
	case quantumlock.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case quantumlock.EFORBIDDEN:
		return http.StatusForbidden
	case quantumlock.ENOTFOUND:
		return http.StatusNotFound
	case quantumlock.EMETHOD:
		return http.StatusMethodNotAllowed
	case quantumlock.ECONFLICT:
		return http.StatusConflict
	case quantumlock.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case quantumlock.EMEDIATYPE:
		return http.StatusUnsupportedMediaType
	case quantumlock.ERATELIMIT:
		return http.StatusTooManyRequests
	case quantumlock.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is the error body of SPEC §4.
type errorBody struct {
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	Timestamp string `json:"timestamp"`
	RequestID string `json:"request_id"`
}

// encode writes v as JSON with status. Strings are not HTML-escaped:
// JSON needs no escaping of <, > and &, and a license's metadata is
// answered byte for byte as it was stored.
func encode(w http.ResponseWriter, status int, v any) {
	e := encoders.Get().(*encoder)
	defer func() {
		// A buffer grown by a large answer (a page of a thousand
		// licenses) is left to the collector, not kept for small ones.
		// (encoding/json pools its own working buffer, of any size, as
		// it did under json.Marshal.)
		if e.buf.Cap() <= maxPooledResponse {
			e.buf.Reset()
			encoders.Put(e)
		}
	}()
	if err := e.enc.Encode(v); err != nil { // ends the value with a newline
		// Only unencodable types reach here, a programming error.
		panic(fmt.Sprintf("httpapi: encoding %T: %v", v, err))
	}
	if n := int64(e.buf.Cap()); e.buf.Len() >= largeResponse {
		if rw, ok := w.(*responseWriter); ok && rw.s != nil {
			customer := infoFrom(rw.r).customerID
			safe := rw.r.Method == http.MethodGet || rw.r.Method == http.MethodHead
			if !rw.s.budget.take(customer, n, !safe) {
				rw.refuseLarge()
				return
			}
			defer rw.s.budget.give(customer, n, !safe)
		}
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	w.Write(e.buf.Bytes())
}

// maxPooledResponse is the largest buffer encoders keeps.
const maxPooledResponse = 64 << 10

// encoder is a response encoder and its buffer, kept in encoders between
// responses.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

// Header values every JSON response carries, shared instead of allocated
// per response. Their capacity equals their length, so a later Add makes
// a new slice rather than writing into these.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
	apiKeyChallenge = []string{`ApiKey header="X-API-Key"`}
)

// writeError writes err as the SPEC §4 error body. Internal errors are
// logged with the request id and reach the client only as "Internal error."
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := quantumlock.ErrorCode(err)
	info := infoFrom(r)
	if code == quantumlock.EINTERNAL || code == quantumlock.EMASTERKEY {
		// A request whose client went away (say, while waiting for an RSA
		// generation slot) fails with the context's error: worth a line,
		// not an alarm.
		level, what := slog.LevelError, "internal error"
		if ctxErr := r.Context().Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			level, what = slog.LevelInfo, "request canceled"
			info.canceled = true
		}
		s.logger.LogAttrs(r.Context(), level, what,
			slog.String("request_id", info.requestID), slog.String("route", info.route), slog.String("error", err.Error()))
		if code == quantumlock.EMASTERKEY {
			code = quantumlock.EINTERNAL
		}
	}
	msg := quantumlock.ErrorMessage(err)
	if code == quantumlock.EINTERNAL {
		msg = "Internal error."
	}
	if code == quantumlock.EUNAUTHORIZED {
		// RFC 9110 §11.6.1: a 401 names the scheme the client is to use.
		w.Header()["Www-Authenticate"] = apiKeyChallenge
	}
	if h := w.Header(); code == quantumlock.ERATELIMIT && h.Get("Retry-After") == "" {
		// Every 429 carries Retry-After (SPEC §4). The per-minute limit
		// and the monthly quota set their own; a 429 of the service's
		// bounds on costly work (the RSA gate) asks for a second's wait.
		h.Set("Retry-After", "1")
	}
	encode(w, statusOf(code), s.errorBodyOf(r, code, msg))
}

// errorBodyOf returns the SPEC §4 error body of code and detail for r, and
// records the code for r's access-log line.
func (s *server) errorBodyOf(r *http.Request, code, detail string) errorBody {
	info := infoFrom(r)
	info.errCode = code
	return errorBody{Detail: detail, Code: code, Timestamp: s.now().UTC().Format(time.RFC3339), RequestID: info.requestID}
}

// decode reads the request body as exactly one JSON object into dst, a
// pointer to a struct, strictly: unknown fields (names match exactly, as
// JSON's do, not in any case as encoding/json allows), a field given
// twice, wrong types, trailing data, malformed JSON and bytes that are not
// UTF-8 are EINVALID naming the problem; an oversized body is ETOOLARGE; a
// body declared as anything but JSON, or in a charset other than UTF-8, is
// EMEDIATYPE (application/json or any type ending in +json is JSON), and
// so is a body sent compressed (any Content-Encoding but identity), which
// would otherwise be read as malformed JSON. An empty body, or one of only
// whitespace, however framed (no Content-Length, chunked), decodes as {} so
// endpoints whose fields are all optional accept a bare POST, whatever
// Content-Type or Content-Encoding a client adds to it by default (under
// headers that refuse any other body, up to maxBlankBody bytes of it); a
// JSON null is not an object, and is refused. A \u escape of half a surrogate
// pair with no other half is EINVALID naming its field: it is no
// character, and JSON readers disagree about it (Go's reads it as U+FFFD,
// others keep it or refuse the document), so end_customer_id "\ud800"
// would otherwise be stored as "\ufffd", and metadata answered byte for
// byte would be read differently by the vendor's own software.
func decode(r *http.Request, dst any) error {
	if r.ContentLength == 0 {
		if unframed10(r) {
			return quantumlock.Errorf(quantumlock.EINVALID, "An HTTP/1.0 %s must give its body's length in Content-Length (0 for none).", r.Method)
		}
		return nil
	}
	// What the headers settle is answered before a byte of the body is
	// read: reading is what has net/http send "100 Continue" to a client
	// that asked with Expect (curl does, past 1 MiB), which would then
	// upload a body only to be cut off mid-way, and see a reset rather
	// than the refusal.
	if err := declaredJSON(r.Header); err != nil {
		if r.ContentLength > maxBlankBody {
			return err
		}
		// Refused by its headers alone, unless there is no body to speak
		// of: a blank one is looked for in the first bytes only, not read
		// whole (up to the limit) for a request that is refused anyway.
		head, rerr := io.ReadAll(io.LimitReader(r.Body, maxBlankBody+1))
		if rerr == nil && len(head) <= maxBlankBody && skipSpace(head, 0) == len(head) {
			return nil
		}
		return err
	}
	if r.ContentLength > MaxBodyBytes {
		return quantumlock.Errorf(quantumlock.ETOOLARGE, "Request body must be at most %d bytes.", MaxBodyBytes)
	}
	// The body is capped (routed), so reading it whole is bounded; the
	// bytes are needed more than once, for the blank, UTF-8 and key
	// checks.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return decodeError(err)
		}
		if malformedChunking(err) {
			return quantumlock.Errorf(quantumlock.EINVALID, "The request body's chunked encoding is malformed.")
		}
		// The connection ended, failed or timed out before the body did:
		// no fault of its JSON. The access log marks the request cut
		// off, as whatever is answered may never arrive.
		infoFrom(r).cutOff = true
		return quantumlock.Errorf(quantumlock.EINVALID, "The request body could not be read to its end: the connection closed or timed out first.")
	}
	if skipSpace(body, 0) == len(body) {
		return nil
	}
	// encoding/json would replace bytes that are not UTF-8 with U+FFFD in
	// strings, and keep them as they are in raw values such as metadata,
	// which would then be stored and answered as invalid JSON.
	if !utf8.Valid(body) {
		return quantumlock.Errorf(quantumlock.EINVALID, "Request body must be UTF-8: the byte at %d is not.", invalidUTF8At(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return quantumlock.Errorf(quantumlock.EINVALID, "Request body must hold a single JSON object with nothing after it.")
	}
	if i := skipSpace(body, 0); body[i] == 'n' {
		// The decoder read the whole body as one value, so "null" it is:
		// the one non-object it leaves dst untouched for.
		return quantumlock.Errorf(quantumlock.EINVALID, "Request body must be a JSON object, not null.")
	}
	return exactFields(body, dst)
}

// maxBlankBody is the longest body of whitespace a request refused by its
// headers is still taken as blank by: what a client adds by default is a
// line break or two.
const maxBlankBody = 512

// declaredJSON returns EMEDIATYPE unless h declares a body that is JSON, in
// UTF-8, uncompressed, with one Content-Type (none counts as JSON).
func declaredJSON(h http.Header) error {
	for _, v := range h["Content-Encoding"] {
		for ce := range strings.SplitSeq(v, ",") {
			if ce = strings.TrimSpace(ce); ce != "" && !strings.EqualFold(ce, "identity") {
				return quantumlock.Errorf(quantumlock.EMEDIATYPE, "Content-Encoding %s is not supported; send the body uncompressed.", ce)
			}
		}
	}
	cts := h["Content-Type"]
	if len(cts) > 1 {
		// Which one a proxy in front of the service would go by is
		// anyone's guess.
		return quantumlock.Errorf(quantumlock.EMEDIATYPE, "Send one Content-Type header, not %d.", len(cts))
	}
	// The exact common value skips the parser and its allocations.
	if len(cts) == 1 && cts[0] != "" && cts[0] != "application/json" {
		mt, params, err := mime.ParseMediaType(cts[0])
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return quantumlock.Errorf(quantumlock.EMEDIATYPE, "Content-Type must be application/json.")
		}
		if cs, ok := params["charset"]; ok && !utf8Charset(cs) {
			return quantumlock.Errorf(quantumlock.EMEDIATYPE, "JSON must be UTF-8, not %s.", cs)
		}
	}
	return nil
}

// utf8Charset reports whether a declared charset is UTF-8, by its name or
// a common alias, or ASCII, which is UTF-8's first 128 characters.
func utf8Charset(cs string) bool {
	switch strings.ToLower(cs) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return true
	}
	return false
}

// fieldNames caches, per request type, the JSON names of its fields, each
// with its own bit of a uint64.
var fieldNames sync.Map // reflect.Type → map[string]uint64

// exactFields checks the top-level names of the JSON object body, already
// decoded into dst: each must be exactly one of dst's field names and
// appear once. encoding/json matches names without regard to case and
// lets a repeated name's last value win, so {"END_CUSTOMER_ID":…} or a
// field given twice would be read here one way and by a proxy in front of
// the service perhaps another. No value may hold a lone surrogate escape
// (decode).
func exactFields(body []byte, dst any) error {
	t := reflect.TypeOf(dst).Elem()
	names, ok := fieldNames.Load(t)
	if !ok {
		m := map[string]uint64{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if len(m) == 64 {
				panic("httpapi: a request type with more than 64 fields")
			}
			m[name] = 1 << len(m)
		}
		names, _ = fieldNames.LoadOrStore(t, m)
	}
	known := names.(map[string]uint64)
	var seen uint64
	return objectNames(body, func(name, value []byte) error {
		bit := known[string(name)]
		switch {
		case bit == 0:
			return quantumlock.Errorf(quantumlock.EINVALID, "Unknown field %q.", name)
		case seen&bit != 0:
			return quantumlock.Errorf(quantumlock.EINVALID, "Field %q is given more than once.", name)
		case loneSurrogate(value):
			return quantumlock.Errorf(quantumlock.EINVALID, "%s holds a \\u escape of half a surrogate pair (D800–DFFF) without the other half, which is no character.", name)
		}
		seen |= bit
		return nil
	})
}

// objectNames calls fn with each top-level name of body and its value's
// bytes, in order, if body is a JSON object; names with escapes are passed
// unescaped, values as they stand in body. body must be
// valid JSON (the decoder has read it), so this walks it without checking
// it again and without allocating: it runs on every request with a body,
// where a json.Decoder's Token would allocate for every name and value.
// TestObjectNames and FuzzObjectNames hold it to the Decoder's reading.
func objectNames(body []byte, fn func(name, value []byte) error) error {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil // null: nothing was set
	}
	i++
	for {
		i = skipSpace(body, i)
		if i >= len(body) || body[i] == '}' {
			return nil
		}
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
		end := stringEnd(body, i)
		name := body[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(body[i:end], &s); err != nil {
				return decodeError(err)
			}
			name = []byte(s)
		}
		i = skipSpace(body, end) // at ':'
		start := skipSpace(body, i+1)
		i = skipValue(body, start)
		if err := fn(name, trimTrailingSpace(body[start:i])); err != nil {
			return err
		}
	}
}

// trimTrailingSpace returns b without JSON whitespace at its end (a number's
// value runs to the ',' or '}' after it).
func trimTrailingSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// loneSurrogate reports whether the valid JSON value b holds a \u escape of
// a high surrogate (D800–DBFF) not followed at once by an escaped low one
// (DC00–DFFF), or of a low surrogate not preceded by a high one.
func loneSurrogate(b []byte) bool {
	for i := bytes.IndexByte(b, '\\'); i >= 0 && i+1 < len(b); {
		if b[i+1] != 'u' {
			i = nextBackslash(b, i+2) // a two-character escape, "\\" among them
			continue
		}
		switch r := hex4(b[i+2 : i+6]); {
		case r >= 0xD800 && r <= 0xDBFF:
			if i+12 > len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
				return true
			}
			if lo := hex4(b[i+8 : i+12]); lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i = nextBackslash(b, i+12)
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		default:
			i = nextBackslash(b, i+6)
		}
	}
	return false
}

// nextBackslash returns the index of the first backslash in b at or after
// i, or -1.
func nextBackslash(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	if j := bytes.IndexByte(b[i:], '\\'); j >= 0 {
		return i + j
	}
	return -1
}

// hex4 reads four hex digits, which valid JSON has after every \u.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at
// b[i], a quote.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the JSON value that starts at
// b[i]: past its closing bracket for an object or array, at the ',' or
// '}' that ends it for any other value.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

// unframed10 reports whether r is an HTTP/1.0 POST, PUT or PATCH without a
// Content-Length. HTTP/1.0 frames a request body by Content-Length alone,
// and requires one on every POST (RFC 1945 §7.2.2, which has a server
// answer 400 where it cannot tell the body's length): net/http reads no
// body without it, and ignores an HTTP/1.0 Transfer-Encoding, so a body
// sent chunked would be taken for none and the request served on its
// defaults (a key made with none of the options asked for), while the
// chunks waited on the connection to be read as the next request. A
// DELETE, which HTTP/1.0 gives no body, needs none.
func unframed10(r *http.Request) bool {
	return !r.ProtoAtLeast(1, 1) && r.Header["Content-Length"] == nil &&
		(r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch)
}

// chunkFraming are the messages of net/http's errors for a chunked body
// whose framing is broken (net/http/internal's chunked reader). They are
// not exported, so they are known by their words; any other error reading
// a body is taken for the connection ending first, as before: among them
// the trailer's "unexpected EOF", and its "suspiciously long trailer",
// which net/http also says of a trailer the connection cut off before its
// blank line.
var chunkFraming = map[string]bool{
	"header line too long":                        true,
	"chunked encoding contains too much non-data": true,
	"malformed chunked encoding":                  true,
	"chunked line ends with bare LF":              true,
	"invalid CR in chunked line":                  true,
	"empty hex number for chunk length":           true,
	"invalid byte in chunk length":                true,
	"http chunk length too large":                 true,
}

// malformedChunking reports whether err, from reading a request body, is
// the body's chunked framing refused: a chunk size that is not hex or too
// large, data longer than its size, a malformed trailer.
func malformedChunking(err error) bool {
	if _, ok := errors.AsType[textproto.ProtocolError](err); ok {
		return true // a trailer line that is no header
	}
	for ; err != nil; err = errors.Unwrap(err) {
		if chunkFraming[err.Error()] {
			return true
		}
	}
	return false
}

// invalidUTF8At returns the position of b's first byte that does not
// begin a valid UTF-8 encoding, counted from 1, as the byte encoding/json
// names in a syntax error is.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i + 1
		}
		i += n
	}
	return len(b)
}

func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return quantumlock.Errorf(quantumlock.ETOOLARGE, "Request body must be at most %d bytes.", MaxBodyBytes)
	case errors.As(err, &syn) && strings.HasSuffix(syn.Error(), "exceeded max depth"):
		// Well-formed JSON past encoding/json's nesting limit (10,000).
		return quantumlock.Errorf(quantumlock.EINVALID, "JSON nested too deeply at byte %d.", syn.Offset)
	case errors.As(err, &syn):
		return quantumlock.Errorf(quantumlock.EINVALID, "Malformed JSON at byte %d.", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return quantumlock.Errorf(quantumlock.EINVALID, "Malformed JSON: the body ends early.")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return quantumlock.Errorf(quantumlock.EINVALID, "Request body must be a JSON object.")
		}
		if n := strings.TrimPrefix(typ.Value, "number "); jsonKind(typ.Type.Kind().String()) == "an integer" && integerLiteral(n) {
			// An integer, of the right type, too large for the field.
			return quantumlock.Errorf(quantumlock.EINVALID, "%s is out of range: %.40s.", typ.Field, n)
		}
		return quantumlock.Errorf(quantumlock.EINVALID, "%s must be %s, not %s.", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return quantumlock.Errorf(quantumlock.EINVALID, "Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return quantumlock.Errorf(quantumlock.EINVALID, "Request body is not valid JSON.")
	}
}

// featureList is a generate request's features, decoded element by
// element so that an element of the wrong type is named (features[1]), as
// the length check names it, and a null element is refused rather than
// read as "". A null list is no features. What is wrong is kept in err,
// not returned: an error from UnmarshalJSON would end decoding and take
// the place of a type error encoding/json had kept for an earlier field,
// so the caller reports err only once decoding has succeeded.
type featureList struct {
	items []string
	err   error
}

func (l *featureList) UnmarshalJSON(b []byte) error {
	*l = featureList{}
	if string(b) == "null" {
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		l.err = quantumlock.Errorf(quantumlock.EINVALID, "features must be an array, not %s.", jsonValueKind(b))
		return nil
	}
	out := make([]string, len(raw))
	for i, e := range raw {
		if jsonValueKind(e) != "string" {
			l.err = quantumlock.Errorf(quantumlock.EINVALID, "features[%d] must be a string, not %s.", i, jsonValueKind(e))
			return nil
		}
		if err := json.Unmarshal(e, &out[i]); err != nil {
			l.err = quantumlock.Errorf(quantumlock.EINVALID, "features[%d] is not a valid JSON string.", i)
			return nil
		}
	}
	l.items = out
	return nil
}

// jsonValueKind names the kind of the JSON value b as encoding/json's
// type errors do: object, array, string, number, bool or null.
func jsonValueKind(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// integerLiteral reports whether s is a JSON number with no fraction or
// exponent.
func integerLiteral(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	default:
		return "of another type"
	}
}

// timeString formats t as RFC 3339 UTC with a Z (SPEC §4).
func timeString(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// timePtr formats t, or returns nil for a nil t.
func timePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeString(*t)
	return &s
}

// fields reads a request's fields in order and keeps the first error, so a
// handler converts them in straight-line code and checks once. Every error
// is EINVALID naming the field.
type fields struct{ err error }

func (f *fields) fail(format string, args ...any) {
	if f.err == nil {
		f.err = quantumlock.Errorf(quantumlock.EINVALID, format, args...)
	}
}

// required returns *s; null or missing is an error.
func (f *fields) required(name string, s *string) string {
	if s == nil {
		f.fail("%s is required.", name)
		return ""
	}
	return *s
}

// optional returns *s, or "" when s is null or missing. An empty string is
// refused: null already means "not given", and a client sending "" for an
// id has usually lost the value it meant to send.
func (f *fields) optional(name string, s *string) string {
	if s != nil && *s == "" {
		f.fail("%s must not be empty; send null or leave it out.", name)
		return ""
	}
	if s == nil {
		return ""
	}
	return *s
}

// base64 decodes a required field of standard, padded base64 (RFC 4648 §4).
func (f *fields) base64(name string, s *string) []byte {
	if f.err != nil {
		return nil
	}
	v := f.required(name, s)
	if f.err != nil {
		return nil
	}
	// Go's decoder skips line breaks, which MIME encoders write, and does
	// not check the last character's unused bits (README says both).
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		f.fail("%s must be standard base64 with padding.", name)
		return nil
	}
	return b
}

// optionalBase64 is base64 for a field that may be null or missing (nil).
func (f *fields) optionalBase64(name string, s *string) []byte {
	if s == nil {
		return nil
	}
	return f.base64(name, s)
}

// toBase64 encodes b as standard, padded base64.
func toBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// query parses the request's query string strictly: a malformed one, a
// parameter not in names, one given twice, empty ("?limit=") or not UTF-8
// is EINVALID naming it. Go's URL.Query drops pairs it cannot parse and
// keeps every repetition, so "?limit=1;skip=2" or "?limit=1%zz" would be
// answered with the defaults, and "?skip=1&skip=abc" by its first value.
func query(r *http.Request, names ...string) (map[string]string, error) {
	if r.URL.RawQuery == "" {
		return nil, nil
	}
	vs, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, quantumlock.Errorf(quantumlock.EINVALID, "The query string is malformed: %s.", strings.TrimPrefix(err.Error(), "invalid "))
	}
	// The parameters are checked in the order they first appear, so that
	// a query with two faults is always answered with the first.
	q := make(map[string]string, len(vs))
	for _, name := range queryOrder(r.URL.RawQuery, len(vs)) {
		v := vs[name]
		switch {
		case !slices.Contains(names, name):
			return nil, quantumlock.Errorf(quantumlock.EINVALID, "Unknown query parameter %q.", name)
		case len(v) > 1:
			return nil, quantumlock.Errorf(quantumlock.EINVALID, "Query parameter %s is given more than once.", name)
		case v[0] == "":
			return nil, quantumlock.Errorf(quantumlock.EINVALID, "Query parameter %s is empty; leave it out for its default.", name)
		case !utf8.ValidString(v[0]):
			return nil, quantumlock.Errorf(quantumlock.EINVALID, "Query parameter %s is not valid UTF-8.", name)
		}
		q[name] = v[0]
	}
	return q, nil
}

// queryOrder returns the names of a query string that url.ParseQuery
// accepted, each once, in the order they first appear.
func queryOrder(raw string, n int) []string {
	names := make([]string, 0, n)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		key, _, _ := strings.Cut(part, "=")
		if name, err := url.QueryUnescape(key); err == nil && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// page reads the skip and limit parameters of a list's query q, limit
// defaulting to defLimit. Their ranges are the service's to check.
func page(q map[string]string, defLimit int) (skip, limit int, err error) {
	skip, limit = 0, defLimit
	for _, p := range []struct {
		name string
		dst  *int
	}{{"skip", &skip}, {"limit", &limit}} {
		if v := q[p.name]; v != "" {
			n, err := strconv.Atoi(v)
			// A number past int's range keeps Atoi's clamped value, so the
			// caller's range check names the range.
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return 0, 0, quantumlock.Errorf(quantumlock.EINVALID, "%s must be an integer.", p.name)
			}
			*p.dst = n
		}
	}
	return skip, limit, nil
}
