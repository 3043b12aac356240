package upgrade

import "testing"

// One rule for the compose gate, the stack gate and the plan: a setup step
// runs upshift only on positive evidence — its entrypoint or command names
// upshift, or its image says it is upshift's — never because nothing
// names another program.
func TestRunsUpshift(t *testing.T) {
	image := func(ep ...string) func() imageFacts {
		return func() imageFacts { return imageFacts{Ref: "reg/setup:v2", Present: true, Entrypoint: ep} }
	}
	labelled := func() imageFacts {
		return imageFacts{Ref: "reg/setup:v2", Present: true, Entrypoint: []string{"/entrypoint.sh"}, Labels: map[string]string{LabelTitle: "upshift"}}
	}
	absent := func() imageFacts { return imageFacts{Ref: "example/idp:v3"} }
	for _, tc := range []struct {
		name string
		p    setupProgram
		is   bool
		what string
	}{
		{"override upshift", setupProgram{Override: []string{"/usr/local/bin/upshift", "migrate"}, Entrypoint: []string{"docker-entrypoint.sh"}}, true, ""},
		{"override another migrator", setupProgram{Override: []string{"npx", "drizzle-kit", "migrate"}, Image: image()}, false, "`npx drizzle-kit migrate`"},
		{"file entrypoint upshift", setupProgram{Entrypoint: []string{"/upshift"}, Command: []string{"migrate"}}, true, ""},
		{"file entrypoint a shell", setupProgram{Entrypoint: []string{"sh", "-c"}, Command: []string{"node migrate.js"}}, false, "`sh -c node migrate.js`"},
		{"image entrypoint upshift", setupProgram{Command: []string{"migrate"}, Image: image("/upshift")}, true, ""},
		{"image labelled upshift", setupProgram{Image: labelled}, true, ""},
		{"image without entrypoint, command upshift", setupProgram{Command: []string{"upshift", "migrate"}, Image: image()}, true, ""},
		{"image entrypoint node", setupProgram{Command: []string{"migrate.js"}, Image: image("node")}, false, "`node migrate.js`"},
		{"nothing known of the image's command", setupProgram{Image: image()}, false, "its image's command"},
		{"file alone: the command names another", setupProgram{Command: []string{"node", "migrate.js"}}, false, "`node migrate.js` under an entrypoint upshift cannot see: the compose file names no entrypoint"},
		// The idp shape: flags for the image's own entrypoint, the image
		// not pulled yet: no evidence, so not upshift.
		{"flags for an entrypoint not seen", setupProgram{Command: []string{"-c", "/etc/config/idp.yml", "migrate", "sql", "-e", "--yes"}, Image: absent}, false,
			"`-c /etc/config/idp.yml migrate sql -e --yes` under an entrypoint upshift cannot see: example/idp:v3 is not on this engine yet, and the compose file names no entrypoint"},
		{"file alone: no command", setupProgram{}, false, "its image's entrypoint and command, which upshift cannot see: the compose file names no entrypoint"},
		{"a script of many lines is quoted by its first", setupProgram{Entrypoint: []string{"/bin/bash"}, Command: []string{"-c", "set -e\nfor i in 1 2 3; do\n  ./migrate up\ndone"}}, false, "`/bin/bash -c set -e …`"},
	} {
		is, what := tc.p.runsUpshift()
		if is != tc.is || what != tc.what {
			t.Errorf("%s: (%v, %q), want (%v, %q)", tc.name, is, what, tc.is, tc.what)
		}
	}
}
