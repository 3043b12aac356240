package redact

import (
	"errors"
	"io/fs"
	"net/url"
	"testing"
)

func TestString(t *testing.T) {
	s := Of("s3cret/pw", "ab", "")
	for in, want := range map[string]string{
		"password=s3cret/pw host=db":                               "password=xxxxx host=db",
		"postgres://app:" + url.QueryEscape("s3cret/pw") + "@db/x": "postgres://app:xxxxx@db/x",
		"ab is too short to hide by value":                         "ab is too short to hide by value",
	} {
		if got := s.String(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	// A password equal to the user name leaves the name alone.
	pg := Of("postgres")
	if got := pg.String("user=postgres password postgres://postgres:postgres@db/postgres"); got != "user=postgres password postgres://postgres:xxxxx@db/postgres" {
		t.Errorf("%s", got)
	}
	var none *Set
	if none.String("x") != "x" || none.Secrets() != nil {
		t.Errorf("a nil set hides nothing")
	}
}

func TestErrorKeepsTheChain(t *testing.T) {
	err := Of("hunter22").Error(&fs.PathError{Op: "open", Path: "/etc/hunter22", Err: fs.ErrNotExist})
	if err.Error() != "open /etc/xxxxx: file does not exist" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v", err)
	}
	if Of("x").Error(nil) != nil {
		t.Errorf("nil error")
	}
}

// A weak secret that is also the project's name (Infisical's example
// password is "infisical") leaves names, paths and commands intact, is
// reported as weak, and is still hidden where it stands alone.
func TestProtectedNames(t *testing.T) {
	r := Of("infisical", "Str0ng-s3cret-value")
	r.Protect("infisical", "/srv/infisical/docker-compose.prod.yml", "infisical-backend-1")
	in := "docker compose -f /srv/infisical/docker-compose.prod.yml -p infisical up -d backend; container infisical-backend-1; password=infisical; token Str0ng-s3cret-value"
	want := "docker compose -f /srv/infisical/docker-compose.prod.yml -p infisical up -d backend; container infisical-backend-1; password=infisical; token xxxxx"
	if got := r.String(in); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Part of a longer name only, it is hidden where it stands alone.
	h := Of("hatchet")
	h.Protect("prod", "hatchet-engine")
	if got := h.String("service hatchet-engine: password=hatchet"); got != "service hatchet-engine: password=xxxxx" {
		t.Errorf("alone: %s", got)
	}
	if w := r.Weak("infisical", "Str0ng-s3cret-value"); len(w) != 1 || w["infisical"] != "infisical" {
		t.Errorf("weak %v", w)
	}
}
