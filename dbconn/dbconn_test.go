package dbconn

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/app?sslmode=disable", "postgres://app:xxxxx@db:5432/app?sslmode=disable"},
		{"host=db user=app password='correct horse battery staple' dbname=app", "host=db user=app password=xxxxx dbname=app"},
		{"host=db password = 'it\\'s' user=app", "host=db password=xxxxx user=app"},
		{"host=db user='my app' password=plain", "host=db user='my app' password=xxxxx"},
		{"host=db dbname=app", "host=db dbname=app"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactorKeepsNames(t *testing.T) {
	r := NewRedactor("postgres://postgres:postgres@127.0.0.1/postgres")
	got := r.String("failed to connect to `user=postgres database=postgres`: password postgres rejected; postgres://postgres:postgres@127.0.0.1")
	want := "failed to connect to `user=postgres database=postgres`: password xxxxx rejected; postgres://postgres:xxxxx@127.0.0.1"
	if got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
	kv := NewRedactor("host=db user=app password='correct horse battery staple'")
	if got := kv.String("auth failed for correct horse battery staple"); strings.Contains(got, "horse") {
		t.Errorf("quoted password not scrubbed: %q", got)
	}
}

func TestParseRefusesUnencodedAt(t *testing.T) {
	_, err := Parse("postgres://u:Tr0ub4dor@3xyz@127.0.0.1/db", "")
	if !errors.Is(err, ErrBadURL) || strings.Contains(err.Error(), "Tr0ub4dor") || strings.Contains(err.Error(), "3xyz") || !strings.Contains(err.Error(), "%40") {
		t.Errorf("error %v", err)
	}
	if _, err := Parse("postgres://u:Tr0ub4dor%403xyz@127.0.0.1/db", ""); err != nil {
		t.Errorf("an encoded @: %v", err)
	}
}

func FuzzConninfo(f *testing.F) {
	f.Add("host=db user=app password='a b\\'c' dbname=x")
	f.Add("password=")
	f.Add("'")
	f.Fuzz(func(t *testing.T, s string) {
		for _, kv := range conninfo(s) {
			if kv.key == "password" && kv.value != "" && len(kv.value) >= 3 && strings.Contains(RedactURL(s), "password="+kv.raw) && kv.raw != "xxxxx" {
				t.Errorf("password %q survived in %q", kv.raw, RedactURL(s))
			}
		}
	})
}

// A server of a major version the suites do not run on gets one line that
// names it and the tested ones; a tested one gets none.
func TestVersionWarning(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"15.18 (Debian 15.18-0+deb12u1)", ""},
		{"17.12 (Debian 17.12-0+deb13u1)", ""},
		{"18.6 (Debian 18.6-1)", ""},
		{"16.4", "PostgreSQL 16.4 is not among the versions upshift's tests run on (15, 17, 18)"},
		{"13.2 (Ubuntu)", "PostgreSQL 13.2 is not among"},
		{"19devel", "PostgreSQL 19devel is not among"},
	} {
		if got := versionWarning(tc.version); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.version, got, tc.want)
		}
	}
}
