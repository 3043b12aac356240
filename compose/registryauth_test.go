package compose_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/compose"
)

// The login `docker login` left in the docker config goes with the swarm
// calls for that registry only, as --with-registry-auth sends it.
func TestRegistryAuthFromTheDockerConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	login := base64.StdEncoding.EncodeToString([]byte("ci-bot:s3cret-token"))
	cfg := `{"auths":{"registry.example.com":{"auth":"` + login + `"},"https://index.docker.io/v1/":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("hub:pw")) + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for image, user := range map[string]string{
		"registry.example.com/shop/api:2.0@sha256:" + strings.Repeat("ab", 32): "ci-bot",
		"library/postgres:16":  "hub",
		"postgres:16":          "hub",
		"ghcr.io/shop/api:2.0": "",
		"Not A Reference":      "",
	} {
		enc := compose.RegistryAuth(image)
		if user == "" {
			if enc != "" {
				t.Errorf("%s: credentials %q, want none", image, enc)
			}
			continue
		}
		b, err := base64.URLEncoding.DecodeString(enc)
		if err != nil {
			t.Fatalf("%s: %v", image, err)
		}
		var ac struct{ Username, Password string }
		if err := json.Unmarshal(b, &ac); err != nil || ac.Username != user {
			t.Errorf("%s: %s (%v), want user %s", image, b, err, user)
		}
	}
}
