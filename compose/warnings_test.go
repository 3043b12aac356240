package compose

import "testing"

// compose warns about an unset variable on every call of a run: the run
// shows each such warning once.
func TestProjectWarningsShownOnce(t *testing.T) {
	c := &CLI{}
	warn := `time="2026-12-06T03:00:00Z" level=warning msg="The \"IDP_LOG_LEVEL\" variable is not set. Defaulting to a blank string."`
	first := c.once(warn)
	again := c.once(warn)
	indented := c.once("  " + warn)
	if first || !again || !indented {
		t.Errorf("the same warning is not shown exactly once: hidden the first time %v, the second %v, indented %v", first, again, indented)
	}
	for range 2 {
		if c.once("db-setup | applied 0001_users") {
			t.Errorf("a line of the service's own output was dropped")
		}
	}
}
