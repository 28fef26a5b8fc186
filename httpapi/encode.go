package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

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

// encode writes v as JSON with status.
func encode(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only unencodable types reach here, a programming error.
		panic(fmt.Sprintf("httpapi: encoding %T: %v", v, err))
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Header values every JSON response carries, shared instead of allocated
// per response. Their capacity equals their length, so a later Add makes
// a new slice rather than writing into these.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
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
	info.errCode = code
	encode(w, statusOf(code), errorBody{
		Detail:    msg,
		Code:      code,
		Timestamp: s.now().UTC().Format(time.RFC3339),
		RequestID: info.requestID,
	})
}

// decode reads the request body as exactly one JSON object into dst,
// strictly: unknown fields, wrong types, trailing data and malformed JSON
// are EINVALID naming the problem; an oversized body is ETOOLARGE; a body
// declared as anything but JSON is EMEDIATYPE. An empty body decodes as {}
// so endpoints whose fields are all optional accept a bare POST.
func decode(r *http.Request, dst any) error {
	// The exact common value skips the parser and its allocations.
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return quantumlock.Errorf(quantumlock.EMEDIATYPE, "Content-Type must be application/json.")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err == io.EOF {
		return nil
	} else if err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err)
		}
		return quantumlock.Errorf(quantumlock.EINVALID, "Request body must hold a single JSON object with nothing after it.")
	}
	return nil
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
	case errors.As(err, &syn):
		return quantumlock.Errorf(quantumlock.EINVALID, "Malformed JSON at byte %d.", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return quantumlock.Errorf(quantumlock.EINVALID, "Malformed JSON: the body ends early.")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return quantumlock.Errorf(quantumlock.EINVALID, "Request body must be a JSON object.")
		}
		return quantumlock.Errorf(quantumlock.EINVALID, "%s must be %s, not %s.", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return quantumlock.Errorf(quantumlock.EINVALID, "Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return quantumlock.Errorf(quantumlock.EINVALID, "Request body is not valid JSON.")
	}
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
