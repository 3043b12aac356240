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
