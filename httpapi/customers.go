package httpapi

import (
	"net/http"

	"github.com/quantumlock/quantumlock"
)

// handleCustomerMe serves GET /api/v1/customers/me.
func (s *server) handleCustomerMe() authedHandler {
	type response struct {
		ID        string           `json:"id"`
		Name      string           `json:"name"`
		Email     string           `json:"email"`
		Plan      quantumlock.Plan `json:"plan"`
		CreatedAt string           `json:"created_at"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		encode(w, http.StatusOK, response{ID: c.ID, Name: c.Name, Email: c.Email, Plan: c.Plan, CreatedAt: timeString(c.CreatedAt)})
	}
}

// handleCustomerStats serves GET /api/v1/customers/stats.
func (s *server) handleCustomerStats() authedHandler {
	type response struct {
		Plan                   quantumlock.Plan `json:"plan"`
		LicensesGeneratedMonth int64            `json:"licenses_generated_month"`
		LicensesRemainingMonth *int64           `json:"licenses_remaining_month"`
		MaxLicensesMonth       *int64           `json:"max_licenses_month"`
		TotalLicensesAllTime   int64            `json:"total_licenses_all_time"`
		ActiveLicenses         int64            `json:"active_licenses"`
		RequestsPerMinute      int64            `json:"requests_per_minute"`
		PeriodResetsAt         string           `json:"period_resets_at"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		st, err := s.Licenses.Stats(r.Context(), c)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, response{
			Plan:                   st.Plan,
			LicensesGeneratedMonth: st.GeneratedMonth,
			LicensesRemainingMonth: st.RemainingMonth,
			MaxLicensesMonth:       st.MaxMonth,
			TotalLicensesAllTime:   st.TotalAllTime,
			ActiveLicenses:         st.Active,
			RequestsPerMinute:      c.Limits().RequestsPerMinute,
			PeriodResetsAt:         timeString(st.PeriodResetsAt),
		})
	}
}
