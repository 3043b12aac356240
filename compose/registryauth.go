package compose

import (
	"encoding/base64"
	"encoding/json"
	"io"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/moby/moby/api/types/registry"
)

// RegistryAuth is the X-Registry-Auth value for image — the credentials
// `docker login` keeps for its registry in the docker config (or its
// credential helper), as `docker stack deploy --with-registry-auth` sends
// them — and "" when there are none: the swarm's nodes pull a private
// image, and the manager resolves its digest, with these.
func RegistryAuth(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	cfg := config.LoadDefaultConfigFile(io.Discard)
	ac, err := cfg.GetAuthConfig(reference.Domain(named))
	if err != nil || (ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "") {
		return ""
	}
	b, err := json.Marshal(registry.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth, ServerAddress: ac.ServerAddress,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken})
	if err != nil {
		return ""
	}
	return base64.URLEncoding.EncodeToString(b)
}
