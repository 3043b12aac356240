package dockerplugin

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, argv0 string
		args        []string
		plugin      bool
		want        []string
		env         []string
		err         string
	}{
		{name: "plain binary", argv0: "/usr/local/bin/upshift", args: []string{"upgrade", "--service", "api"}, want: []string{"upgrade", "--service", "api"}},
		{name: "plain binary named upshift first", argv0: "upshift", args: []string{"upshift", "x"}, want: []string{"upshift", "x"}},
		{name: "plugin", argv0: "/root/.docker/cli-plugins/docker-upshift", args: []string{"upshift", "upgrade", "--service", "api"}, plugin: true, want: []string{"upgrade", "--service", "api"}},
		{name: "plugin with context", argv0: "docker-upshift", args: []string{"--context", "prod", "upshift", "history"}, plugin: true, want: []string{"history"}, env: []string{"DOCKER_CONTEXT=prod"}},
		{name: "plugin with -c= and host", argv0: "docker-upshift", args: []string{"-c=prod", "-H", "ssh://deploy@db1", "-D", "--log-level", "debug", "upshift", "version"}, plugin: true, want: []string{"version"}, env: []string{"DOCKER_CONTEXT=prod", "DOCKER_HOST=ssh://deploy@db1"}},
		{name: "plugin tls", argv0: "docker-upshift", args: []string{"--tlsverify", "--tlscacert", "/c/ca.pem", "--tlscert=/c/cert.pem", "--tlskey", "/c/key.pem", "upshift", "version"}, plugin: true, want: []string{"version"}, env: []string{"DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=/c"}},
		{name: "plugin tls scattered", argv0: "docker-upshift", args: []string{"--tlscacert", "/a/ca.pem", "--tlskey", "/b/key.pem", "upshift"}, err: "DOCKER_CERT_PATH"},
		{name: "plugin config", argv0: "docker-upshift", args: []string{"--config", "/tmp/d", "upshift", "version"}, plugin: true, want: []string{"version"}, env: []string{"DOCKER_CONFIG=/tmp/d"}},
		{name: "unknown option", argv0: "docker-upshift", args: []string{"--frobnicate", "upshift"}, err: "--frobnicate"},
		{name: "run by hand", argv0: "docker-upshift", args: []string{"status"}, want: []string{"status"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Parse(tc.argv0, tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if inv.Plugin != tc.plugin || !slices.Equal(inv.Args, tc.want) || !slices.Equal(inv.Env, tc.env) {
				t.Fatalf("got plugin=%v args=%q env=%q, want plugin=%v args=%q env=%q", inv.Plugin, inv.Args, inv.Env, tc.plugin, tc.want, tc.env)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	inv, err := Parse("/x/docker-upshift", []string{MetadataCommand})
	if err != nil || !inv.Metadata {
		t.Fatalf("metadata call not recognised: %+v %v", inv, err)
	}
	var m map[string]string
	if err := json.Unmarshal(Metadata("v1.2.3"), &m); err != nil {
		t.Fatal(err)
	}
	if m["SchemaVersion"] != "0.1.0" || m["Vendor"] == "" || m["Version"] != "v1.2.3" {
		t.Fatalf("metadata %v lacks what docker requires", m)
	}
}
