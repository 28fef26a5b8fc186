package httpapi

import "net/http"

// route is one entry of the API surface.
type route struct {
	Pattern string
	Handler http.Handler
}

// routes is the whole API on one page. TestOpenAPICoversRoutes checks that
// openapi.yaml describes every pattern here.
func (s *server) routes() []route {
	return []route{
		{"GET /health", s.handleHealth()},
		{"GET /openapi.yaml", handleOpenAPI()},

		{"POST /api/v1/licenses/generate", s.authedRefusing(s.handleLicenseGenerate(), s.setCurrentQuota)},
		{"POST /api/v1/licenses/validate", s.authed(s.handleLicenseValidate())},
		{"GET /api/v1/licenses", s.authedWithQuery(s.handleLicenseList())},
		{"GET /api/v1/licenses/{license_key}", s.authed(s.handleLicenseGet())},
		{"POST /api/v1/licenses/{license_key}/revoke", s.authed(s.handleLicenseRevoke())},

		{"GET /api/v1/customers/me", s.authed(s.handleCustomerMe())},
		{"GET /api/v1/customers/stats", s.authed(s.handleCustomerStats())},

		{"GET /api/v1/quantum/health", s.authed(s.handleQuantumHealth())},
		{"POST /api/v1/quantum/entropy", s.authed(s.handleEntropy())},

		{"POST /api/v1/quantum/keys", s.authed(s.handleKeyCreate())},
		{"GET /api/v1/quantum/keys", s.authedWithQuery(s.handleKeyList())},
		{"GET /api/v1/quantum/keys/{key_id}", s.authed(s.handleKeyGet())},
		{"POST /api/v1/quantum/keys/{key_id}/rotate", s.authed(s.handleKeyRotate())},
		{"DELETE /api/v1/quantum/keys/{key_id}", s.authed(s.handleKeyDelete())},
		{"GET /api/v1/quantum/keys/{key_id}/export", s.authedWithQuery(s.handleKeyExport())},
		{"POST /api/v1/quantum/rsa", s.authed(s.handleRSA())},

		{"POST /api/v1/quantum/crypto/encrypt", s.authed(s.handleEncrypt())},
		{"POST /api/v1/quantum/crypto/decrypt", s.authed(s.handleDecrypt())},
		{"POST /api/v1/quantum/crypto/sign", s.authed(s.handleSign())},
		{"POST /api/v1/quantum/crypto/verify", s.authed(s.handleVerify())},
		{"POST /api/v1/quantum/crypto/key-exchange", s.authed(s.handleKeyExchange())},
	}
}

// RoutePatterns returns the pattern of every route, for tests that keep
// openapi.yaml true.
func RoutePatterns() []string {
	var ps []string
	for _, rt := range (&server{}).routes() {
		ps = append(ps, rt.Pattern)
	}
	return ps
}
