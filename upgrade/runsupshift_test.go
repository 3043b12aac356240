package upgrade

import "testing"

// One rule for the compose gate, the stack gate and the plan: what the
// setup step runs is upshift when its program (the override, else the
// entrypoint, else the command where the image has no entrypoint) is.
func TestRunsUpshift(t *testing.T) {
	image := func(ep ...string) func() []string { return func() []string { return ep } }
	for _, tc := range []struct {
		name      string
		p         setupProgram
		is, known bool
		what      string
	}{
		{"override upshift", setupProgram{Override: []string{"/usr/local/bin/upshift", "migrate"}, Entrypoint: []string{"node"}}, true, true, "`/usr/local/bin/upshift migrate`"},
		{"override another migrator", setupProgram{Override: []string{"npx", "drizzle-kit", "migrate"}}, false, true, "`npx drizzle-kit migrate`"},
		{"file entrypoint upshift", setupProgram{Entrypoint: []string{"/upshift"}, Command: []string{"migrate"}}, true, true, ""},
		{"file entrypoint a shell", setupProgram{Entrypoint: []string{"sh", "-c"}, Command: []string{"node migrate.js"}}, false, true, "`sh -c node migrate.js`"},
		{"image entrypoint upshift", setupProgram{Command: []string{"migrate"}, ImageEntrypoint: image("/upshift")}, true, true, ""},
		{"image without entrypoint, command upshift", setupProgram{Command: []string{"upshift", "migrate"}, ImageEntrypoint: image()}, true, true, ""},
		{"image entrypoint node", setupProgram{Command: []string{"migrate.js"}, ImageEntrypoint: image("node")}, false, true, "`node migrate.js`"},
		{"nothing known of the image", setupProgram{ImageEntrypoint: image()}, false, true, "`its image's command`"},
		{"file alone: the command names it", setupProgram{Command: []string{"node", "migrate.js"}}, false, true, "`node migrate.js`"},
		{"file alone: flags for the image's entrypoint", setupProgram{Command: []string{"--dir", "drizzle"}}, false, false, ""},
		{"file alone: no command", setupProgram{}, false, false, ""},
		{"a script of many lines is quoted by its first", setupProgram{Entrypoint: []string{"/bin/bash"}, Command: []string{"-c", "set -e\nfor i in 1 2 3; do\n  ./migrate up\ndone"}}, false, true, "`/bin/bash -c set -e …`"},
	} {
		is, known, what := tc.p.runsUpshift()
		if is != tc.is || known != tc.known || what != tc.what {
			t.Errorf("%s: (%v, %v, %q), want (%v, %v, %q)", tc.name, is, known, what, tc.is, tc.known, tc.what)
		}
	}
}
