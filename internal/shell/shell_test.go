package shell

import (
	"os/exec"
	"testing"
)

// Each quoted word comes back from a real shell as it went in.
func TestQuoteRoundTrip(t *testing.T) {
	for _, w := range []string{"plain", "./drizzle", "with space", "it's", `a"b`, "$HOME", "`id`", "a\nb", "", "k=v", "*.sql", "~root", `back\slash`} {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(w)).Output()
		if err != nil {
			t.Fatalf("%q: %v", w, err)
		}
		if string(out) != w {
			t.Errorf("%q came back as %q (quoted %s)", w, out, Quote(w))
		}
	}
}
