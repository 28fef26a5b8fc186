package sqlite

import (
	"strings"
	"testing"

	sqlite3 "modernc.org/sqlite/lib"
)

// A write failure's age is measured on the monotonic clock, so a step of
// the wall clock (an NTP correction) neither keeps /health degraded long
// after the failure nor forgets a fresh one at once.
func TestWriteFailureAgeIsMonotonic(t *testing.T) {
	var h writeHealth
	h.record(codeError(sqlite3.SQLITE_FULL))
	f := h.last.Load()
	if f == nil || f.kind != "disk_full" {
		t.Fatalf("recorded %+v", f)
	}
	if !strings.Contains(f.at.String(), "m=") {
		t.Errorf("the failure's time %s has no monotonic reading: its age would follow the wall clock", f.at)
	}
}
