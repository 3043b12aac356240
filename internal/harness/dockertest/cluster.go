package dockertest

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// NodeImage is an image with dockerd from Debian's docker.io, made by
// .ci/docker-env with mmdebstrap: the engines of a multi-node swarm.
const NodeImage = "upshift-test/dind:20.10"

// Node is one engine of a Cluster.
type Node struct {
	Name string
	IP   string
	Host string // DOCKER_HOST of its engine: tcp://IP:2375
}

// Cluster is a multi-node swarm made of engines in containers on a network
// of their own: the first a manager, the others workers, vxlan between
// them. Each node reaches the test registry as 127.0.0.1:5000, through a
// forwarder, so that the images name the same registry everywhere.
type Cluster struct {
	t     testing.TB
	Net   string
	Nodes []Node
	fwd   net.Listener
}

// The caps a node needs: every one the test machine grants (the machines
// here withhold CAP_SYS_RESOURCE, so --privileged itself is refused), with
// the cgroup hierarchies mounted writable by the node's own start script.
var nodeOpts = []string{"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
	"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
	"--tmpfs", "/run", "--tmpfs", "/var/run"}

// nodeInit makes the cgroup hierarchies writable, forwards 127.0.0.1:5000
// to the test's registry forwarder at %s, and starts dockerd (vfs: the
// node's own storage inside the container).
const nodeInit = `mount -o remount,rw /sys 2>/dev/null
awk '$3=="cgroup"{print $2, $4}' /proc/mounts | while read dir opts; do
  o=$(echo "$opts" | tr , '\n' | grep -vE '^(ro|rw|nosuid|nodev|noexec|relatime)$' | paste -sd, -)
  umount "$dir" && mount -t cgroup -o "$o" cgroup "$dir"
done
socat TCP-LISTEN:5000,bind=127.0.0.1,fork,reuseaddr TCP:%s &
exec dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false --storage-driver=vfs`

// NewCluster starts n engines and joins them into one swarm; everything is
// removed when the test ends. The test engine itself never joins.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	Require(t)
	if _, err := RunErr("", nil, "docker", "image", "inspect", NodeImage); err != nil {
		msg := "no " + NodeImage + " image (run .ci/docker-env)"
		if os.Getenv("CI") != "" || os.Getenv("UPSHIFT_E2E") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	c := &Cluster{t: t, Net: RandomName("upshift-mn-")}
	t.Cleanup(c.destroy)
	Run(t, "", nil, "docker", "network", "create", c.Net)
	gw := strings.TrimSpace(Run(t, "", nil, "docker", "network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", c.Net))
	var err error
	if c.fwd, err = net.Listen("tcp", gw+":0"); err != nil {
		t.Fatal(err)
	}
	go forward(c.fwd, Registry)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s-%d", c.Net, i)
		args := append([]string{"run", "-d", "--name", name, "--hostname", fmt.Sprintf("node%d", i), "--network", c.Net}, nodeOpts...)
		args = append(args, NodeImage, "sh", "-c", fmt.Sprintf(nodeInit, c.fwd.Addr()))
		Run(t, "", nil, "docker", args...)
		ip := strings.TrimSpace(Run(t, "", nil, "docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name))
		c.Nodes = append(c.Nodes, Node{Name: name, IP: ip, Host: "tcp://" + ip + ":2375"})
	}
	for _, nd := range c.Nodes {
		deadline := time.Now().Add(90 * time.Second)
		for {
			if _, err := RunErr("", []string{"DOCKER_HOST=" + nd.Host}, "docker", "info"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				logs, _ := RunErr("", nil, "docker", "logs", "--tail", "20", nd.Name)
				t.Fatalf("the engine of %s does not answer within 90s:\n%s", nd.Name, logs)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	m := c.Nodes[0]
	c.Docker(m, "swarm", "init", "--advertise-addr", m.IP)
	token := strings.TrimSpace(c.Docker(m, "swarm", "join-token", "-q", "worker"))
	for _, nd := range c.Nodes[1:] {
		c.Docker(nd, "swarm", "join", "--token", token, m.IP+":2377")
	}
	return c
}

// Docker runs the docker CLI against one node's engine.
func (c *Cluster) Docker(n Node, args ...string) string {
	c.t.Helper()
	return Run(c.t, "", []string{"DOCKER_HOST=" + n.Host}, "docker", args...)
}

// Stack makes a stack whose docker commands (and upshift) go to the
// cluster's manager, its database image pulled from the registry by the
// nodes, its port reached at the manager's address.
func (c *Cluster) Stack() *Stack {
	c.t.Helper()
	s := newStack(c.t)
	s.Host = c.Nodes[0].IP
	s.Env = append(s.Env, "DOCKER_HOST="+c.Nodes[0].Host, "DB_IMAGE="+pushPostgres(c.t))
	return s
}

var (
	pgOnce sync.Once
	pgRef  string
	pgErr  error
)

// pushPostgres puts the PostgreSQL image in the registry, once.
func pushPostgres(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() {
		ref := Registry + "/" + PostgresImage
		if out, err := RunErr("", nil, "docker", "tag", PostgresImage, ref); err != nil {
			pgErr = fmt.Errorf("docker tag: %v %s", err, out)
			return
		}
		if out, err := RunErr("", nil, "docker", "push", "-q", ref); err != nil {
			pgErr = fmt.Errorf("docker push: %v %s", err, out)
			return
		}
		_, _ = RunErr("", nil, "docker", "rmi", "--no-prune", ref)
		pgRef = ref
	})
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	return pgRef
}

func (c *Cluster) destroy() {
	if os.Getenv("UPSHIFT_E2E_KEEP") != "" {
		c.t.Logf("keeping cluster %s", c.Net)
		return
	}
	for _, n := range c.Nodes {
		_, _ = RunErr("", nil, "docker", "rm", "-f", "-v", n.Name)
	}
	_, _ = RunErr("", nil, "docker", "network", "rm", c.Net)
	if c.fwd != nil {
		c.fwd.Close()
	}
}

// forward relays every connection accepted on l to addr.
func forward(l net.Listener, addr string) {
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer out.Close()
			go func() { _, _ = io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
			_, _ = io.Copy(in, out)
		}()
	}
}
