package quantumlock

import (
	"errors"
	"fmt"
)

// Error codes. They are the machine codes of the API's error body (SPEC §4);
// only package httpapi maps them to HTTP statuses.
const (
	EINVALID      = "INVALID_REQUEST"
	EUNAUTHORIZED = "UNAUTHORIZED"
	EFORBIDDEN    = "FORBIDDEN"
	ENOTFOUND     = "NOT_FOUND"
	ECONFLICT     = "CONFLICT"
	ERATELIMIT    = "RATE_LIMIT_EXCEEDED"
	EINTERNAL     = "INTERNAL_ERROR"
	EUNAVAILABLE  = "QUANTUM_BACKEND_UNAVAILABLE"
	EDECRYPT      = "DECRYPTION_FAILED"
	ETOOLARGE     = "PAYLOAD_TOO_LARGE"
	EMETHOD       = "METHOD_NOT_ALLOWED"
	EMEDIATYPE    = "UNSUPPORTED_MEDIA_TYPE"
	EMASTERKEY    = "MASTER_KEY_MISMATCH"
)

// Error is a domain error with a machine code and a sentence safe to show
// to the client. Any error that is not an *Error is internal: its text is
// logged, never shown.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("quantumlock error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	} else if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of the first *Error in err's
// chain, "Internal error." for any other non-nil error, and "" for nil.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	} else if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "Internal error."
}
