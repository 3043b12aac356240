package compose

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/client"
)

// Labels docker compose puts on the containers it creates.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
	LabelNumber  = "com.docker.compose.container-number"
	LabelOneOff  = "com.docker.compose.oneoff"
)

// Container is one container of a service as the engine reports it.
type Container struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Service      string `json:"service"`
	Number       int    `json:"number"`
	Image        string `json:"image"`    // the reference it was created from
	ImageID      string `json:"image_id"` // sha256:… of the image it runs
	State        string `json:"state"`    // created, running, restarting, exited, …
	Health       string `json:"health,omitempty"`
	ExitCode     int    `json:"exit_code"`
	RestartCount int    `json:"restart_count"`
	StartedAt    string `json:"started_at,omitempty"`
	Error        string `json:"error,omitempty"`
	// IPs are its addresses on its networks, for checking one container
	// of several behind a service name.
	IPs []string `json:"ips,omitempty"`
	// TCPPorts are the TCP ports it exposes (its image's EXPOSE, the
	// file's expose and ports targets), to reach it on its own address.
	TCPPorts []int `json:"tcp_ports,omitempty"`
}

// Running says whether the container is up (not restarting, not exited).
func (c Container) Running() bool { return c.State == "running" }

// Engine is what upshift reads from the Docker engine, and the few changes
// it makes there itself: tags that pin images, and stopping and removing
// single containers (a rolling upgrade's old ones, a dead run's one-offs).
// Creating and replacing containers goes through the compose CLI.
type Engine interface {
	// Containers lists a service's containers (one-off `run` containers
	// excluded), in every state, ordered by container number.
	Containers(ctx context.Context, project, service string) ([]Container, error)
	// OneOffs lists the one-off containers (`docker compose run`) of a
	// service, in every state.
	OneOffs(ctx context.Context, project, service string) ([]Container, error)
	// Inspect returns one container's current state.
	Inspect(ctx context.Context, id string) (Container, error)
	// ImageID resolves an image reference to the local image's id; "" when
	// the engine does not have it.
	ImageID(ctx context.Context, ref string) (string, error)
	// ImageEntrypoint is the entrypoint of a local image (nil when the
	// engine does not have it).
	ImageEntrypoint(ctx context.Context, ref string) ([]string, error)
	// Tag points target at the image source (a reference or an id).
	Tag(ctx context.Context, source, target string) error
	// Untag removes a tag, never the image a container uses.
	Untag(ctx context.Context, ref string) error
	// Tags lists the local references under repository.
	Tags(ctx context.Context, repository string) ([]string, error)
	// Stop stops one container (SIGTERM, then SIGKILL after grace) and
	// removes it: the rolling strategy retires single containers, which
	// no compose verb does.
	StopAndRemove(ctx context.Context, id string, grace time.Duration) error
	Close() error
}

// Docker is the Engine over the moby client.
type Docker struct {
	c *client.Client
}

// Connect reaches the engine the docker CLI would (ResolveEndpoint("")).
func Connect(ctx context.Context) (*Docker, error) {
	ep, err := ResolveEndpoint("")
	if err != nil {
		return nil, err
	}
	return ConnectTo(ctx, ep)
}

func (d *Docker) Close() error { return d.c.Close() }

func (d *Docker) Containers(ctx context.Context, project, service string) ([]Container, error) {
	return d.list(ctx, project, service, false)
}

func (d *Docker) OneOffs(ctx context.Context, project, service string) ([]Container, error) {
	return d.list(ctx, project, service, true)
}

func (d *Docker) list(ctx context.Context, project, service string, oneOff bool) ([]Container, error) {
	f := client.Filters{}.Add("label", LabelProject+"="+project, LabelService+"="+service)
	res, err := d.c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers of %s/%s: %w", project, service, err)
	}
	var out []Container
	for _, s := range res.Items {
		if strings.EqualFold(s.Labels[LabelOneOff], "true") != oneOff {
			continue
		}
		c, err := d.Inspect(ctx, s.ID)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				continue // removed meanwhile
			}
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

func (d *Docker) Inspect(ctx context.Context, id string) (Container, error) {
	res, err := d.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return Container{}, fmt.Errorf("inspect container %s: %w", short(id), err)
	}
	r := res.Container
	c := Container{ID: r.ID, Name: strings.TrimPrefix(r.Name, "/"), ImageID: r.Image, RestartCount: r.RestartCount}
	if r.Config != nil {
		c.Image = r.Config.Image
		c.Service = r.Config.Labels[LabelService]
		c.Number, _ = strconv.Atoi(r.Config.Labels[LabelNumber])
		for p := range r.Config.ExposedPorts {
			if p.Proto() == "tcp" {
				c.TCPPorts = append(c.TCPPorts, int(p.Num()))
			}
		}
		sort.Ints(c.TCPPorts)
	}
	if ns := r.NetworkSettings; ns != nil {
		for _, n := range ns.Networks {
			if n != nil && n.IPAddress.IsValid() {
				c.IPs = append(c.IPs, n.IPAddress.String())
			}
		}
		sort.Strings(c.IPs)
	}
	if st := r.State; st != nil {
		c.State, c.ExitCode, c.StartedAt, c.Error = string(st.Status), st.ExitCode, st.StartedAt, st.Error
		if st.Health != nil {
			c.Health = string(st.Health.Status)
		}
	}
	return c, nil
}

func (d *Docker) ImageID(ctx context.Context, ref string) (string, error) {
	res, err := d.c.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return res.ID, nil
}

func (d *Docker) ImageEntrypoint(ctx context.Context, ref string) ([]string, error) {
	cfg, err := d.imageConfig(ctx, ref)
	if cfg == nil {
		return nil, err
	}
	return cfg.Entrypoint, nil
}

// ImageLabels are a local image's labels (nil when the engine does not
// have it).
func (d *Docker) ImageLabels(ctx context.Context, ref string) (map[string]string, error) {
	cfg, err := d.imageConfig(ctx, ref)
	if cfg == nil {
		return nil, err
	}
	return cfg.Labels, nil
}

// imageConfig is a local image's config (nil, and no error, when the
// engine does not have it).
func (d *Docker) imageConfig(ctx context.Context, ref string) (*dockerspec.DockerOCIImageConfig, error) {
	res, err := d.c.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return res.Config, nil
}

func (d *Docker) Tag(ctx context.Context, source, target string) error {
	if _, err := d.c.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target}); err != nil {
		return fmt.Errorf("tag %s as %s: %w", short(source), target, err)
	}
	return nil
}

func (d *Docker) Untag(ctx context.Context, ref string) error {
	_, err := d.c.ImageRemove(ctx, ref, client.ImageRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("remove tag %s: %w", ref, err)
	}
	return nil
}

func (d *Docker) Tags(ctx context.Context, repository string) ([]string, error) {
	res, err := d.c.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", repository)})
	if err != nil {
		return nil, fmt.Errorf("list images %s: %w", repository, err)
	}
	var out []string
	for _, im := range res.Items {
		for _, t := range im.RepoTags {
			if strings.HasPrefix(t, repository+":") {
				out = append(out, t)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func (d *Docker) StopAndRemove(ctx context.Context, id string, grace time.Duration) error {
	// 0: the container's own stop_grace_period, which compose set on it.
	var timeout *int
	if grace > 0 {
		secs := int((grace + time.Second - 1) / time.Second)
		timeout = &secs
	}
	if _, err := d.c.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: timeout}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", short(id), err)
	}
	if _, err := d.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", short(id), err)
	}
	return nil
}

func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 && !strings.ContainsAny(id, ":/") {
		return id[:12]
	}
	return id
}

// ShortID shortens a container or image id for people.
func ShortID(id string) string { return short(id) }
