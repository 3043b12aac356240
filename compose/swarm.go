package compose

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// LabelStack is the label `docker stack deploy` puts on a stack's services.
const LabelStack = "com.docker.stack.namespace"

// Swarm is the engine's swarm mode, for upgrading a deployed stack: what
// upshift reads, the one-off jobs it runs, the service updates it makes and
// the cluster-wide lock it takes. There is no CLI to drive here: `docker
// stack deploy` changes every service at once and waits for none.
type Swarm struct {
	c *client.Client
}

// Swarm is the engine's swarm API over the same connection.
func (d *Docker) Swarm() *Swarm { return &Swarm{c: d.c} }

// SwarmInfo is what the engine says of its part in a swarm.
type SwarmInfo struct {
	State    string // inactive, pending, active, error, locked
	Manager  bool   // control available: this engine can change services
	NodeID   string
	NodeAddr string
	Nodes    int
	Managers int
	Error    string
	// ClusterID is the swarm's own id; Time the engine's clock.
	ClusterID string
	Time      time.Time
}

// Info reads the engine's swarm state (GET /info), with the swarm's
// cluster id and the manager's clock.
func (s *Swarm) Info(ctx context.Context) (SwarmInfo, error) {
	res, err := s.c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return SwarmInfo{}, fmt.Errorf("read the engine's swarm state: %w", err)
	}
	i := res.Info.Swarm
	out := SwarmInfo{State: string(i.LocalNodeState), Manager: i.ControlAvailable, NodeID: i.NodeID, NodeAddr: i.NodeAddr,
		Nodes: i.Nodes, Managers: i.Managers, Error: i.Error}
	if i.Cluster != nil {
		out.ClusterID = i.Cluster.ID
	}
	out.Time, _ = time.Parse(time.RFC3339Nano, res.Info.SystemTime)
	return out, nil
}

// StackService is one service of a deployed stack.
type StackService struct {
	ID      string
	Name    string // as the swarm names it: shop_api
	Service string // as the stack file names it: api
	Version uint64 // the spec's version, for an update that must not race another
	// Image is the spec's image (with the digest the deploy resolved);
	// PreviousImage that of the spec before the last update ("" when
	// none: Swarm keeps one level).
	Image         string
	PreviousImage string
	Replicas      int  // -1: global
	Job           bool // a replicated or global job
	// Update is the last update's state (updating, paused, completed,
	// rollback_started, rollback_paused, rollback_completed; "" when the
	// service was never updated) and its message.
	Update        string
	UpdateMessage string
	// UpdateConfig is the update's order, failure action and monitor
	// window as the spec has them ("" and 0 where the spec says nothing).
	Order         string
	FailureAction string
	Monitor       time.Duration
	// Entrypoint is the spec's entrypoint (nil: the image's); Args its
	// command (the stack file's command; nil: the image's).
	Entrypoint []string
	Args       []string
	// UpdateStarted is when the last update began (zero: never).
	UpdateStarted time.Time
	// HealthWindow is the image's healthcheck interval × retries from the
	// spec (0 when the spec sets none).
	HealthWindow time.Duration

	spec swarm.ServiceSpec
}

// StackServices lists a stack's services by their stack names.
func (s *Swarm) StackServices(ctx context.Context, stack string) (map[string]StackService, error) {
	res, err := s.c.ServiceList(ctx, client.ServiceListOptions{Filters: client.Filters{}.Add("label", LabelStack+"="+stack)})
	if err != nil {
		return nil, fmt.Errorf("list the services of stack %s: %w", stack, err)
	}
	out := map[string]StackService{}
	for _, svc := range res.Items {
		ss := stackService(svc)
		out[ss.Service] = ss
	}
	return out, nil
}

// Service inspects one service (by id or name).
func (s *Swarm) Service(ctx context.Context, id string) (StackService, error) {
	res, err := s.c.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return StackService{}, fmt.Errorf("inspect service %s: %w", id, err)
	}
	return stackService(res.Service), nil
}

func stackService(svc swarm.Service) StackService {
	ss := StackService{ID: svc.ID, Name: svc.Spec.Name, Version: svc.Version.Index, spec: svc.Spec, Replicas: -1}
	ss.Service = strings.TrimPrefix(svc.Spec.Name, svc.Spec.Labels[LabelStack]+"_")
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		ss.Image, ss.Entrypoint, ss.Args = cs.Image, cs.Command, cs.Args
		if h := cs.Healthcheck; h != nil && len(h.Test) > 0 && h.Test[0] != "NONE" {
			interval := h.Interval
			if interval == 0 {
				interval = 30 * time.Second // the engine's default
			}
			retries := h.Retries
			if retries == 0 {
				retries = 3
			}
			ss.HealthWindow = h.StartPeriod + interval*time.Duration(retries)
		}
	}
	if p := svc.PreviousSpec; p != nil && p.TaskTemplate.ContainerSpec != nil {
		ss.PreviousImage = p.TaskTemplate.ContainerSpec.Image
	}
	switch m := svc.Spec.Mode; {
	case m.Replicated != nil && m.Replicated.Replicas != nil:
		ss.Replicas = int(*m.Replicated.Replicas)
	case m.ReplicatedJob != nil || m.GlobalJob != nil:
		ss.Job = true
	}
	if u := svc.UpdateStatus; u != nil {
		ss.Update, ss.UpdateMessage = string(u.State), u.Message
		if u.StartedAt != nil {
			ss.UpdateStarted = *u.StartedAt
		}
	}
	if u := svc.Spec.UpdateConfig; u != nil {
		ss.Order, ss.FailureAction, ss.Monitor = string(u.Order), string(u.FailureAction), u.Monitor
	}
	return ss
}

// Task is one task of a service.
type Task struct {
	ID        string
	Slot      int
	NodeID    string
	Image     string
	State     string // new … running, complete, failed, shutdown, rejected
	Desired   string
	Err       string
	ExitCode  int
	Container string
	Created   time.Time
}

// Tasks lists a service's tasks, newest first.
func (s *Swarm) Tasks(ctx context.Context, serviceID string) ([]Task, error) {
	res, err := s.c.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("service", serviceID)})
	if err != nil {
		return nil, fmt.Errorf("list the tasks of %s: %w", serviceID, err)
	}
	var out []Task
	for _, t := range res.Items {
		if t.ServiceID != serviceID {
			continue // the filter also matches by name prefix
		}
		tk := Task{ID: t.ID, Slot: t.Slot, NodeID: t.NodeID, State: string(t.Status.State), Desired: string(t.DesiredState), Err: t.Status.Err, Created: t.CreatedAt}
		if cs := t.Spec.ContainerSpec; cs != nil {
			tk.Image = cs.Image
		}
		if c := t.Status.ContainerStatus; c != nil {
			tk.ExitCode, tk.Container = c.ExitCode, c.ContainerID
		}
		out = append(out, tk)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// ServiceUpdateOptions is one change of a service through the swarm API.
type ServiceUpdateOptions struct {
	Service string // id or name
	// Image is the new image (resolved to its digest through the
	// registry, as `docker stack deploy` does, so that every node runs
	// the same one).
	Image string
	// Rollback asks the swarm to go back to the previous spec
	// (rollback=previous) instead; Image is ignored.
	Rollback bool
	// Version is the spec version read before (0: the current one). An
	// update against a version that changed since is refused: someone
	// else changed the service.
	Version uint64
	// Monitor is the least monitor window; FailureAction, when set,
	// replaces the spec's (which docker stack deploy fills with the
	// engine's default, pause, when the file names none).
	Monitor       time.Duration
	FailureAction string
	// Force replaces the tasks even when the spec does not change (the
	// same tag, pushed again).
	Force bool
}

// ConflictError is an update refused because the spec changed since it was
// read: another deploy is at work on the service.
type ConflictError struct {
	Service string
	Err     error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("service %s changed while upshift was updating it (another `docker stack deploy` or `docker service update`?): %v", e.Service, e.Err)
}
func (e *ConflictError) Unwrap() error { return e.Err }

// whole is the context a swarm change is sent with: none is sent once ctx
// has ended, and one that is sent is not cut off by it. The manager
// carries out a request whose client has gone (resolving the image's
// digest takes it a while), so a cancelled request could change the
// service after upshift concluded it had not, and put back the wrong
// version.
func whole(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	return c, cancel, nil
}

// UpdateService changes one service's image (or rolls it back) and returns
// the engine's warnings; it does not wait for the new tasks.
func (s *Swarm) UpdateService(ctx context.Context, o ServiceUpdateOptions) ([]string, error) {
	res, err := s.c.ServiceInspect(ctx, o.Service, client.ServiceInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect service %s: %w", o.Service, err)
	}
	svc := res.Service
	version := svc.Version
	if o.Version != 0 {
		version.Index = o.Version
	}
	opts := client.ServiceUpdateOptions{Version: version, Spec: svc.Spec, RegistryAuthFrom: swarm.RegistryAuthFromSpec}
	if o.Rollback {
		opts.Rollback = "previous"
		opts.RegistryAuthFrom = swarm.RegistryAuthFromPreviousSpec
	} else {
		if auth := RegistryAuth(o.Image); auth != "" {
			// This machine's login for the registry, as --with-registry-auth
			// sends it (else the one the spec was deployed with).
			opts.EncodedRegistryAuth, opts.RegistryAuthFrom = auth, ""
		}
		spec := &opts.Spec
		spec.TaskTemplate.ContainerSpec.Image = o.Image
		opts.QueryRegistry = true
		u := spec.UpdateConfig
		if u == nil {
			u = &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStartFirst}
			spec.UpdateConfig = u
		}
		if o.FailureAction != "" {
			u.FailureAction = swarm.FailureAction(o.FailureAction)
		}
		if u.Monitor < o.Monitor {
			u.Monitor = o.Monitor
		}
		if o.Force {
			spec.TaskTemplate.ForceUpdate++
		}
	}
	mctx, cancel, err := whole(ctx)
	if err != nil {
		return nil, fmt.Errorf("update service %s: %w", svc.Spec.Name, err)
	}
	defer cancel()
	out, err := s.c.ServiceUpdate(mctx, svc.ID, opts)
	if err != nil {
		if strings.Contains(err.Error(), "update out of sequence") {
			return nil, &ConflictError{Service: svc.Spec.Name, Err: err}
		}
		return nil, fmt.Errorf("update service %s: %w", svc.Spec.Name, err)
	}
	return out.Warnings, nil
}

// JobOptions run a one-off task in a stack, shaped like one of its
// services: its networks, environment, secrets, configs and placement.
type JobOptions struct {
	// From is the service whose spec the job copies (shop_migrate).
	From string
	// Name is the job service's name; Image its image.
	Name  string
	Image string
	// Args, when set, replace the service's command (its entrypoint stays);
	// Env adds variables.
	Args   []string
	Env    []string
	Labels map[string]string
}

// JobError is a job whose task did not complete.
type JobError struct {
	Name     string
	ExitCode int // -1 when it never ran (rejected, no image)
	Err      string
}

func (e *JobError) Error() string {
	if e.ExitCode < 0 {
		return fmt.Sprintf("job %s did not run: %s", e.Name, e.Err)
	}
	return fmt.Sprintf("job %s exited with code %d", e.Name, e.ExitCode)
}

// RunJob runs one task of a service's spec as a swarm job
// (replicated-job, never restarted), streams its output to out line by line
// as it comes, waits for it to end and returns its whole output as the
// engine kept it (what callers parse: a followed stream may lose or reorder
// lines of a task on another node); the job service is removed afterwards.
// A task that exits non-zero is a *JobError with its exit code.
func (s *Swarm) RunJob(ctx context.Context, o JobOptions, out func(string)) ([]string, error) {
	res, err := s.c.ServiceInspect(ctx, o.From, client.ServiceInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect service %s: %w", o.From, err)
	}
	var spec swarm.ServiceSpec
	b, _ := json.Marshal(res.Service.Spec) // a deep copy
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, err
	}
	one := uint64(1)
	spec.Name = o.Name
	for k, v := range o.Labels {
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		spec.Labels[k] = v
	}
	spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &one, TotalCompletions: &one}}
	spec.UpdateConfig, spec.RollbackConfig, spec.EndpointSpec = nil, nil, nil
	spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
	cs := spec.TaskTemplate.ContainerSpec
	cs.Image = o.Image
	if o.Args != nil {
		cs.Args = o.Args
	}
	cs.Env = append(cs.Env, o.Env...)
	cs.Healthcheck = nil
	mctx, cancel, err := whole(ctx)
	if err != nil {
		return nil, fmt.Errorf("create job %s: %w", o.Name, err)
	}
	created, err := s.c.ServiceCreate(mctx, client.ServiceCreateOptions{Spec: spec, QueryRegistry: true, EncodedRegistryAuth: RegistryAuth(o.Image)})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create job %s: %w", o.Name, err)
	}
	defer func() {
		_, _ = s.c.ServiceRemove(context.WithoutCancel(ctx), created.ID, client.ServiceRemoveOptions{})
	}()
	logs, done := s.follow(ctx, created.ID, out)
	defer logs()
	for {
		tasks, err := s.Tasks(ctx, created.ID)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if len(tasks) > 0 {
			t := tasks[0]
			switch t.State {
			case string(swarm.TaskStateComplete):
				return done(), nil
			case string(swarm.TaskStateFailed):
				return done(), &JobError{Name: o.Name, ExitCode: t.ExitCode, Err: t.Err}
			case string(swarm.TaskStateRejected), string(swarm.TaskStateOrphaned), string(swarm.TaskStateRemove), string(swarm.TaskStateShutdown):
				return done(), &JobError{Name: o.Name, ExitCode: -1, Err: t.State + ": " + t.Err}
			}
		}
		select {
		case <-ctx.Done():
			s.stopJob(context.WithoutCancel(ctx), created.ID)
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopJob removes a job cut short and waits (a minute at most) until no
// task of it is left running: the container gets its stop signal and grace
// period, and a migration it was in may still commit then, so what it did
// is only known afterwards. A task may exist that the job's loop never saw
// (a signal at once), so every task of the swarm is read and matched by
// service: a filter by service would look the removed service up, and fail.
func (s *Swarm) stopJob(ctx context.Context, serviceID string) {
	_, _ = s.c.ServiceRemove(ctx, serviceID, client.ServiceRemoveOptions{})
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		res, err := s.c.TaskList(ctx, client.TaskListOptions{})
		if err != nil {
			return
		}
		active := false
		for _, t := range res.Items {
			if t.ServiceID != serviceID {
				continue
			}
			switch t.Status.State {
			case swarm.TaskStateComplete, swarm.TaskStateFailed, swarm.TaskStateShutdown, swarm.TaskStateRejected, swarm.TaskStateOrphaned, swarm.TaskStateRemove:
			default:
				active = true
			}
		}
		if !active {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// follow streams a service's output to out as it comes; done, once the
// task ended, stops the stream, reads the whole output (a followed stream
// does not end with the task, and waiting for its last lines would cost
// seconds), hands out the lines it had not delivered yet and returns them
// all.
func (s *Swarm) follow(ctx context.Context, id string, out func(string)) (stop func(), done func() []string) {
	fctx, cancel := context.WithCancel(ctx)
	ended := make(chan struct{})
	var mu sync.Mutex
	seen := 0
	go func() {
		defer close(ended)
		_ = s.lines(fctx, id, true, func(l string) {
			mu.Lock()
			defer mu.Unlock()
			seen++
			out(l)
		})
	}()
	stop = func() { cancel(); <-ended }
	done = func() []string {
		stop()
		var all []string
		_ = s.lines(ctx, id, false, func(l string) { all = append(all, l) })
		for _, l := range all[min(seen, len(all)):] {
			out(l)
		}
		return all
	}
	return stop, done
}

// lines reads a service's output (stdout and stderr, demultiplexed) line
// by line.
func (s *Swarm) lines(ctx context.Context, id string, follow bool, out func(string)) error {
	rc, err := s.c.ServiceLogs(ctx, id, client.ServiceLogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow})
	if err != nil {
		return err
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	r := bufio.NewReaderSize(pr, 64*1024)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			// A followed stream ends when it is stopped, maybe inside a
			// line, which the complete read delivers whole instead.
			if l != "" && !follow {
				out(l)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		out(strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r"))
	}
}

// ImageEntrypoint is an image's entrypoint, pulled onto this engine
// first when it does not have it (the nodes pull it themselves to run it;
// upshift needs it to know what a setup step runs).
func (s *Swarm) ImageEntrypoint(ctx context.Context, ref string) ([]string, error) {
	d := &Docker{c: s.c}
	ep, err := d.ImageEntrypoint(ctx, ref)
	if err != nil || ep != nil {
		return ep, err
	}
	if id, _ := d.ImageID(ctx, ref); id != "" {
		return nil, nil
	}
	pull, err := s.c.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: RegistryAuth(ref)})
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	if err := pull.Wait(ctx); err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	return d.ImageEntrypoint(ctx, ref)
}

// RemoveService removes a service (a job a dead run left).
func (s *Swarm) RemoveService(ctx context.Context, id string) error {
	_, err := s.c.ServiceRemove(ctx, id, client.ServiceRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove service %s: %w", id, err)
	}
	return nil
}

// Jobs lists the services labelled label=value (the jobs of one stack
// that upshift started).
func (s *Swarm) Jobs(ctx context.Context, label, value string) ([]StackService, error) {
	res, err := s.c.ServiceList(ctx, client.ServiceListOptions{Filters: client.Filters{}.Add("label", label+"="+value)})
	if err != nil {
		return nil, err
	}
	var out []StackService
	for _, svc := range res.Items {
		out = append(out, stackService(svc))
	}
	return out, nil
}

// SwarmConfig is a swarm config of upshift's: the cluster-wide state of a
// stack (its deploy lock, journal and history), which every manager keeps
// through raft and any machine that reaches a manager reads.
type SwarmConfig struct {
	ID      string
	Name    string
	Labels  map[string]string
	Data    []byte
	Version uint64
	Created time.Time
}

// ErrLockHeld is a lock (a config name) some other run holds.
var ErrLockHeld = errors.New("lock held")

// ErrConfigGone is a config that no longer exists.
var ErrConfigGone = errors.New("the config is gone")

// CreateConfig creates a config, which the managers do atomically: a
// second create of the name fails (ErrLockHeld).
func (s *Swarm) CreateConfig(ctx context.Context, name string, labels map[string]string, data []byte) (string, error) {
	res, err := s.c.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: swarm.ConfigSpec{
		Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: data}})
	if err != nil {
		if cerrdefs.IsConflict(err) || cerrdefs.IsAlreadyExists(err) || strings.Contains(err.Error(), "already exists") {
			return "", ErrLockHeld
		}
		return "", fmt.Errorf("create the swarm config %s: %w", name, err)
	}
	return res.ID, nil
}

// Config reads one config by name or id (ErrConfigGone when none).
func (s *Swarm) Config(ctx context.Context, name string) (SwarmConfig, error) {
	res, err := s.c.ConfigInspect(ctx, name, client.ConfigInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return SwarmConfig{}, ErrConfigGone
		}
		return SwarmConfig{}, fmt.Errorf("read the swarm config %s: %w", name, err)
	}
	return swarmConfig(res.Config), nil
}

func swarmConfig(c swarm.Config) SwarmConfig {
	return SwarmConfig{ID: c.ID, Name: c.Spec.Name, Labels: c.Spec.Labels, Data: c.Spec.Data, Version: c.Version.Index, Created: c.CreatedAt}
}

// Configs lists the configs labelled label=value, with their data.
func (s *Swarm) Configs(ctx context.Context, label, value string) ([]SwarmConfig, error) {
	res, err := s.c.ConfigList(ctx, client.ConfigListOptions{Filters: client.Filters{}.Add("label", label+"="+value)})
	if err != nil {
		return nil, fmt.Errorf("list swarm configs %s=%s: %w", label, value, err)
	}
	var out []SwarmConfig
	for _, c := range res.Items {
		sc := swarmConfig(c)
		if sc.Data == nil {
			// A list may leave the data out: read it.
			full, err := s.Config(ctx, c.ID)
			if errors.Is(err, ErrConfigGone) {
				continue
			}
			if err != nil {
				return nil, err
			}
			sc = full
		}
		out = append(out, sc)
	}
	return out, nil
}

// RelabelConfig replaces a config's labels (the one change the swarm
// allows), at version: ErrConfigGone when it was removed, ErrLockHeld when
// another change came first.
func (s *Swarm) RelabelConfig(ctx context.Context, c SwarmConfig, labels map[string]string) error {
	_, err := s.c.ConfigUpdate(ctx, c.ID, client.ConfigUpdateOptions{Version: swarm.Version{Index: c.Version},
		Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: c.Name, Labels: labels}, Data: c.Data}})
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return ErrConfigGone
	case strings.Contains(err.Error(), "out of sequence") || strings.Contains(err.Error(), "update out of sequence"):
		return ErrLockHeld
	}
	return fmt.Errorf("update the swarm config %s: %w", c.Name, err)
}

// RemoveConfig removes the config id — that one, never a later one of the
// same name (it is not an error when it is gone).
func (s *Swarm) RemoveConfig(ctx context.Context, id string) error {
	_, err := s.c.ConfigRemove(ctx, id, client.ConfigRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove the swarm config %s: %w", short(id), err)
	}
	return nil
}

// SwarmConfigs is what a stack's state store asks of the swarm.
type SwarmConfigs interface {
	CreateConfig(ctx context.Context, name string, labels map[string]string, data []byte) (string, error)
	Config(ctx context.Context, name string) (SwarmConfig, error)
	Configs(ctx context.Context, label, value string) ([]SwarmConfig, error)
	RelabelConfig(ctx context.Context, c SwarmConfig, labels map[string]string) error
	RemoveConfig(ctx context.Context, id string) error
}

var _ SwarmConfigs = (*Swarm)(nil)

// SwarmAPI is what the stack executor asks of a swarm manager. *Swarm is
// the engine's; tests of the executor's failure paths put a recording
// fake in its place.
type SwarmAPI interface {
	Info(ctx context.Context) (SwarmInfo, error)
	StackServices(ctx context.Context, stack string) (map[string]StackService, error)
	Service(ctx context.Context, id string) (StackService, error)
	Tasks(ctx context.Context, serviceID string) ([]Task, error)
	UpdateService(ctx context.Context, o ServiceUpdateOptions) ([]string, error)
	RunJob(ctx context.Context, o JobOptions, out func(string)) ([]string, error)
	ImageEntrypoint(ctx context.Context, ref string) ([]string, error)
	RemoveService(ctx context.Context, id string) error
	Jobs(ctx context.Context, label, value string) ([]StackService, error)
}

var _ SwarmAPI = (*Swarm)(nil)
