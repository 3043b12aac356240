package dockertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	swarmOnce sync.Once
	swarmErr  error
	// swarmMade: this process made the engine a swarm manager, and makes
	// it leave at Cleanup (with the gateway network swarm init created).
	swarmMade, gwbridgeMade bool
)

// RequireSwarm makes the test engine a single-node swarm manager when it
// is not part of a swarm; Cleanup leaves the swarm again, so that the
// engine ends as it was found.
func RequireSwarm(t testing.TB) {
	t.Helper()
	Require(t)
	swarmOnce.Do(func() {
		state, err := RunErr("", nil, "docker", "info", "--format", "{{.Swarm.LocalNodeState}}")
		if err != nil {
			swarmErr = err
			return
		}
		switch strings.TrimSpace(state) {
		case "active":
			return
		case "inactive":
		default:
			swarmErr = fmt.Errorf("the engine's swarm state is %q: leave or repair it first", strings.TrimSpace(state))
			return
		}
		_, gwErr := RunErr("", nil, "docker", "network", "inspect", "docker_gwbridge")
		if out, err := RunErr("", nil, "docker", "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
			swarmErr = fmt.Errorf("docker swarm init: %v\n%s", err, out)
			return
		}
		swarmMade, gwbridgeMade = true, gwErr != nil
	})
	if swarmErr != nil {
		t.Fatal(swarmErr)
	}
}

func leaveSwarm() {
	if !swarmMade {
		return
	}
	_, _ = RunErr("", nil, "docker", "swarm", "leave", "--force")
	if gwbridgeMade {
		// Its endpoints go with the last container; wait for them.
		for i := 0; i < 50; i++ {
			if _, err := RunErr("", nil, "docker", "network", "rm", "docker_gwbridge"); err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	swarmMade = false
}

// Stack is a throwaway Docker Swarm stack deployed from
// testdata/upgrade/stack.yaml: db, app (2 replicas) behind the proxy, and
// db-setup at replicas: 0. APP_REPO and APP_PORT are in Env, the way
// docker stack deploy takes them; removed (with its images) when the test
// ends.
type Stack struct {
	*Project
	Env  []string
	once sync.Once
}

// NewStack makes a stack's folder and release namespace on the test
// engine, made a single-node swarm; Deploy deploys it.
func NewStack(t testing.TB) *Stack {
	t.Helper()
	RequireSwarm(t)
	return newStack(t)
}

func newStack(t testing.TB) *Stack {
	t.Helper()
	p := &Project{t: t, Name: RandomName("st"), Dir: t.TempDir(), Port: FreePort(t), Bins: Build(t)}
	p.Repo = Registry + "/" + p.Name
	p.StateDir = filepath.Join(p.Dir, ".upshift-state")
	p.File = filepath.Join(p.Dir, "stack.yaml")
	b, err := os.ReadFile(filepath.Join(Testdata(), "stack.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.File, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Stack{Project: p, Env: []string{"APP_REPO=" + p.Repo, fmt.Sprintf("APP_PORT=%d", p.Port)}}
	t.Cleanup(s.Destroy)
	return s
}

// Deploy runs `docker stack deploy` of the stack file, as a team does
// the first time (and as upshift's comparison does).
func (s *Stack) Deploy(env ...string) string {
	s.t.Helper()
	return Run(s.t, s.Dir, append(s.Env, env...), "docker", "stack", "deploy", "-c", s.File, s.Name)
}

// Command prepares `upshift args…` in the stack's folder with its
// environment.
func (s *Stack) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(s.Bins.Upshift, args...)
	cmd.Dir = s.Dir
	cmd.Env = append(append(os.Environ(), "UPSHIFT_STATE_DIR="+s.StateDir), s.Env...)
	return cmd
}

// Upshift runs upshift in the stack's folder with its environment.
func (s *Stack) Upshift(args ...string) Result {
	s.t.Helper()
	return RunUpshift(s.t, s.Bins, s.Dir, append([]string{"UPSHIFT_STATE_DIR=" + s.StateDir}, s.Env...), args...)
}

// Docker runs the docker CLI against the stack's engine.
func (s *Stack) Docker(args ...string) string {
	s.t.Helper()
	return Run(s.t, "", s.Env, "docker", args...)
}

// Service is a service's name in the swarm.
func (s *Stack) Service(name string) string { return s.Name + "_" + name }

// SQL runs a query in the stack's database.
func (s *Stack) SQL(query string) string {
	s.t.Helper()
	id := strings.TrimSpace(Run(s.t, "", s.Env, "docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+s.Service("db")))
	if id == "" {
		s.t.Fatal("no db container of stack " + s.Name)
	}
	return strings.TrimSpace(Run(s.t, "", s.Env, "docker", "exec", strings.Fields(id)[0], "psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", query))
}

// WaitDB waits until the stack's database answers.
func (s *Stack) WaitDB() {
	s.t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		id, _ := RunErr("", s.Env, "docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+s.Service("db"), "--filter", "health=healthy")
		if strings.TrimSpace(id) != "" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the database of stack %s is not healthy within 4 minutes", s.Name)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Destroy removes the stack now (a benchmark's rounds must not leave
// idle stacks beside the next one); it runs at most once.
func (s *Stack) Destroy() { s.once.Do(s.destroy) }

func (s *Stack) destroy() {
	if os.Getenv("UPSHIFT_E2E_KEEP") != "" {
		s.t.Logf("keeping stack %s in %s", s.Name, s.Dir)
		return
	}
	_, _ = RunErr("", s.Env, "docker", "stack", "rm", s.Name)
	_, _ = RunErr("", s.Env, "docker", "config", "rm", "upshift-lock-"+s.Name)
	// docker stack rm returns before the tasks and the network are gone.
	for i := 0; i < 150; i++ {
		out, _ := RunErr("", s.Env, "docker", "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+s.Name)
		nets, _ := RunErr("", s.Env, "docker", "network", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+s.Name)
		if strings.TrimSpace(out+nets) == "" {
			break
		}
		if i%10 == 9 {
			_, _ = RunErr("", s.Env, "docker", "network", "rm", s.Name+"_default")
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.removeImages()
}
