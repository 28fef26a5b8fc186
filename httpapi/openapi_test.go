package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/quantumlock/quantumlock/httpapi"
	"github.com/quantumlock/quantumlock/internal/apitest"
)

// TestOpenAPICoversRoutes fails when a registered route is missing from
// openapi.yaml, or the description lists an operation no route serves.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc, _ := apitest.Doc(t)
	registered := map[string]bool{}
	for _, p := range httpapi.RoutePatterns() {
		method, path, _ := strings.Cut(p, " ")
		registered[method+" "+path] = true
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %q is not in openapi.yaml", p)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !registered[method+" "+path] {
				t.Errorf("openapi.yaml describes %s %s, which no route serves", method, path)
			}
		}
	}
	if !slices.Contains(httpapi.RoutePatterns(), "GET /health") {
		t.Error("RoutePatterns is missing GET /health")
	}
}
