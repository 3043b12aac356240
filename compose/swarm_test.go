package compose_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

// A swarm manager carries out a service update whose client has gone: an
// update cancelled in flight (CI's cancel while the manager resolves the
// image's digest) would change the service after upshift concluded it had
// not, and upshift would put back the wrong version (found by the stack
// fault suite). An update is sent whole or not at all. The engine here is
// the last inch: an HTTP server that answers the update slowly.
func TestSwarmChangesAreSentWholeOrNotAtAll(t *testing.T) {
	var updates atomic.Int32
	received := make(chan struct{}, 1)
	d, _ := dockertest.FakeEngine(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/services/shop_app/update"):
			updates.Add(1)
			received <- struct{}{}
			time.Sleep(300 * time.Millisecond) // resolving the digest
			_, _ = w.Write([]byte(`{"Warnings":null}`))
		case strings.HasSuffix(r.URL.Path, "/services/shop_app"):
			_ = json.NewEncoder(w).Encode(map[string]any{"ID": "shop_app", "Version": map[string]any{"Index": 7},
				"Spec": map[string]any{"Name": "shop_app", "TaskTemplate": map[string]any{"ContainerSpec": map[string]any{"Image": "shop/app:v1"}}}})
		default:
			http.NotFound(w, r)
		}
	})
	sw := d.Swarm()

	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-received; cancel() }()
	if _, err := sw.UpdateService(ctx, compose.ServiceUpdateOptions{Service: "shop_app", Image: "shop/app:v2"}); err != nil {
		t.Errorf("an update the manager took was reported failed when the run was cancelled: %v", err)
	}
	if _, err := sw.UpdateService(ctx, compose.ServiceUpdateOptions{Service: "shop_app", Image: "shop/app:v3"}); err == nil {
		t.Error("a cancelled run sent another update")
	}
	if n := updates.Load(); n != 1 {
		t.Errorf("%d updates reached the manager, want 1", n)
	}
}
