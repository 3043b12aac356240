// Package dockerplugin lets the upshift binary run as a docker CLI plugin:
// copied to ~/.docker/cli-plugins/docker-upshift, `docker upshift upgrade …`
// runs it as `docker-upshift [docker's global options] upshift upgrade …`,
// and `docker-upshift docker-cli-plugin-metadata` must print what the plugin
// is. The global options docker passes (--context, --host, --config, TLS)
// are turned into the variables the docker CLI itself reads (DOCKER_CONTEXT,
// DOCKER_HOST, DOCKER_CONFIG, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), so the
// engine upshift talks to, and the one its `docker compose` calls use, is
// the one the user named to docker.
package dockerplugin

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Name is the plugin's name: the binary is docker-Name, the command docker Name.
const Name = "upshift"

// MetadataCommand is the call docker makes to learn what a plugin is.
const MetadataCommand = "docker-cli-plugin-metadata"

// Metadata is the JSON docker expects from MetadataCommand.
func Metadata(version string) []byte {
	b, _ := json.Marshal(struct {
		SchemaVersion    string
		Vendor           string
		Version          string
		ShortDescription string
		URL              string
	}{"0.1.0", "upshift-dev", version, "Ship Drizzle migrations and compose upgrades safely", "https://github.com/upshift-dev/upshift"})
	return append(b, '\n')
}

// Invocation is how the binary was started.
type Invocation struct {
	Plugin   bool     // started by docker as a CLI plugin
	Metadata bool     // docker asks for the metadata
	Args     []string // upshift's own arguments
	// Env is what docker's global options set, to apply before anything
	// reads the environment (KEY=value).
	Env []string
}

// Parse reads how the binary was started from its name (argv0) and
// arguments. A binary not named docker-upshift is upshift as usual, except
// that the metadata call is answered under any name (docker checks a
// plugin before it runs one).
func Parse(argv0 string, args []string) (Invocation, error) {
	if len(args) == 1 && args[0] == MetadataCommand {
		return Invocation{Plugin: true, Metadata: true}, nil
	}
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	if base != "docker-"+Name {
		return Invocation{Args: args}, nil
	}
	inv := Invocation{Plugin: true}
	var certs = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == Name {
			inv.Args = args[i+1:]
			if dir, err := certDir(certs); err != nil {
				return inv, err
			} else if dir != "" {
				inv.Env = append(inv.Env, "DOCKER_CERT_PATH="+dir)
			}
			return inv, nil
		}
		name, value, hasValue := strings.Cut(a, "=")
		opt, known := globalOptions[name]
		if !known {
			if !slices.Contains(args[i:], Name) {
				break // docker-upshift run by hand: upshift as usual
			}
			return inv, fmt.Errorf("docker passed %q before %q, which is not one of docker's global options; run upshift as `docker [OPTIONS] upshift COMMAND`", a, Name)
		}
		if opt.takesValue && !hasValue {
			if i+1 >= len(args) {
				return inv, fmt.Errorf("docker's option %s has no value", name)
			}
			i++
			value = args[i]
		}
		switch opt.env {
		case "":
		case "DOCKER_TLS_VERIFY":
			if !hasValue || value == "true" || value == "1" {
				inv.Env = append(inv.Env, "DOCKER_TLS_VERIFY=1")
			}
		case "cert":
			certs[name] = value
		default:
			inv.Env = append(inv.Env, opt.env+"="+value)
		}
	}
	// docker-upshift run by hand, without docker: upshift as usual.
	return Invocation{Args: args}, nil
}

type globalOption struct {
	takesValue bool
	env        string // the variable it sets; "" for options without effect here
}

// globalOptions are docker's top-level options (docker --help), each of
// which a plugin must accept before its own name.
var globalOptions = map[string]globalOption{
	"--config": {true, "DOCKER_CONFIG"}, "-c": {true, "DOCKER_CONTEXT"}, "--context": {true, "DOCKER_CONTEXT"},
	"-H": {true, "DOCKER_HOST"}, "--host": {true, "DOCKER_HOST"},
	"-D": {false, ""}, "--debug": {false, ""}, "-l": {true, ""}, "--log-level": {true, ""},
	"--tls": {false, ""}, "--tlsverify": {false, "DOCKER_TLS_VERIFY"},
	"--tlscacert": {true, "cert"}, "--tlscert": {true, "cert"}, "--tlskey": {true, "cert"},
}

// certDir maps --tlscacert/--tlscert/--tlskey to DOCKER_CERT_PATH, which
// names a folder holding ca.pem, cert.pem and key.pem: the one form the
// engine client reads from the environment.
func certDir(certs map[string]string) (string, error) {
	if len(certs) == 0 {
		return "", nil
	}
	want := map[string]string{"--tlscacert": "ca.pem", "--tlscert": "cert.pem", "--tlskey": "key.pem"}
	dir := ""
	for opt, path := range certs {
		d, f := filepath.Split(path)
		d = filepath.Clean(d)
		if f != want[opt] || (dir != "" && d != dir) {
			return "", fmt.Errorf("docker's %s %s: upshift reads TLS files as DOCKER_CERT_PATH does, ca.pem, cert.pem and key.pem in one folder; put them so and pass that folder's files, or set DOCKER_CERT_PATH", opt, path)
		}
		dir = d
	}
	return dir, nil
}
