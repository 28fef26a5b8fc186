package sqlite

import (
	"strings"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// queryPlan returns the lines of SQLite's plan for query.
func queryPlan(t *testing.T, db *DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.r.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestLicenseListPlans checks how SQLite runs a license list and stats:
// never a scan of the whole table, counts from index entries alone or the
// kept total, and a status filter through its partial index, so that the work grows with the
// licenses that match and not with all of the customer's. Among a million
// licenses, reading rows instead made stats take 6 s and a page of revoked
// licenses 12 s (docs/storage.md).
func TestLicenseListPlans(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	now := time.Now()
	for _, c := range []struct {
		name  string
		f     quantumlock.LicenseFilter
		index string // the page's
		count string // in the count's plan
	}{
		{"All", quantumlock.LicenseFilter{}, "licenses_customer", "license_counts USING PRIMARY KEY"},
		{"Active", quantumlock.LicenseFilter{Status: quantumlock.StatusActive}, "licenses_unrevoked", "COVERING INDEX licenses_unrevoked "},
		{"Expired", quantumlock.LicenseFilter{Status: quantumlock.StatusExpired}, "licenses_unrevoked", "COVERING INDEX licenses_unrevoked "},
		{"Revoked", quantumlock.LicenseFilter{Status: quantumlock.StatusRevoked}, "licenses_revoked", "COVERING INDEX licenses_revoked "},
		{"EndCustomer", quantumlock.LicenseFilter{EndCustomerID: "ec"}, "licenses_end_customer", "COVERING INDEX licenses_end_customer "},
		// An end customer's licenses are few; their rows tell the status.
		{"EndCustomerActive", quantumlock.LicenseFilter{EndCustomerID: "ec", Status: quantumlock.StatusActive}, "licenses_end_customer", "INDEX licenses_end_customer "},
		{"EndCustomerRevoked", quantumlock.LicenseFilter{EndCustomerID: "ec", Status: quantumlock.StatusRevoked}, "licenses_end_customer", "INDEX licenses_end_customer "},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.f.CustomerID, c.f.Now, c.f.Limit, c.f.Skip = "cust_000000000001", now, 100, 200
			q, err := licenseListQueries(c.f)
			if err != nil {
				t.Fatal(err)
			}
			count := strings.Join(queryPlan(t, db, q.count, q.args...), "; ")
			page := strings.Join(queryPlan(t, db, q.page, q.pageArgs...), "; ")
			for _, p := range []string{count, page} {
				if strings.Contains(p, "SCAN licenses") {
					t.Errorf("a whole-table scan: %s", p)
				}
			}
			if !strings.Contains(count, c.count) {
				t.Errorf("count: %s; want %s", count, c.count)
			}
			if !strings.Contains(page, "INDEX "+c.index+" ") {
				t.Errorf("page: %s; want it to use %s", page, c.index)
			}
			if c.f.Status != "" && c.f.EndCustomerID == "" {
				if !strings.Contains(page, "COVERING INDEX "+c.index+" ") {
					t.Errorf("page: %s; want the page chosen from %s alone", page, c.index)
				}
				// In seq order from the index: only the page's own rows
				// are sorted, not every match.
				if n := strings.Count(page, "TEMP B-TREE"); n > 1 {
					t.Errorf("page: %s; want one sort, of the page's rows", page)
				}
			}
		})
	}
	t.Run("Stats", func(t *testing.T) {
		plan := strings.Join(queryPlan(t, db, licenseStatsSQL, "cust_000000000001", "2026-11", 0), "; ")
		for _, want := range []string{"license_counts USING PRIMARY KEY", "COVERING INDEX licenses_unrevoked ", "license_usage USING PRIMARY KEY"} {
			if !strings.Contains(plan, want) {
				t.Errorf("stats: %s; want %s", plan, want)
			}
		}
		if strings.Contains(plan, "SCAN licenses") {
			t.Errorf("stats: a whole-table scan: %s", plan)
		}
	})
}
