package serve

import (
	_ "embed"
	"encoding/json"
	"net/http"

	"go.yaml.in/yaml/v3"
)

// openAPIDoc describes the REST API (OpenAPI 3.1). A test checks that it
// names every route the server has and no other.
//
//go:embed openapi/openapi.json
var openAPIDoc []byte

func (s *Server) openAPIJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
}

func (s *Server) openAPIYAML(w http.ResponseWriter, r *http.Request) {
	var v any
	if err := json.Unmarshal(openAPIDoc, &v); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(b)
}
