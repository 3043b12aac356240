package dockertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/compose"
)

// FakeEngine answers the engine API with handle (and /_ping itself) and
// connects to it as upshift does, through DOCKER_HOST: the last inch, for
// what a real engine cannot be made to do on cue (be a worker, answer
// slowly). handle sees every request but the ping.
func FakeEngine(t testing.TB, handle http.HandlerFunc) (*compose.Docker, compose.Endpoint) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			_, _ = w.Write([]byte("OK"))
			return
		}
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_HOST", "tcp://"+srv.Listener.Addr().String())
	t.Setenv("DOCKER_CONTEXT", "")
	ep, err := compose.ResolveEndpoint("")
	if err != nil {
		t.Fatal(err)
	}
	d, err := compose.ConnectTo(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, ep
}
