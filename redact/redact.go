// Package redact hides secrets — passwords, tokens — in everything upshift
// prints: lines, errors, JSON. It is the one place that decides what a
// secret looks like in text and where the same text is a name instead.
package redact

import (
	"net/url"
	"strings"
)

// Set is the secrets one run knows, and scrubs from text. The zero value
// (and nil) knows none.
type Set struct {
	secrets []string
	// names are never cut into: a project, service, path or image whose
	// name contains a weak secret is printed whole (Weak warns of it).
	names []string
}

// Protect marks names (a project, its services, file paths, image
// references) that are printed intact even where a secret is part of them:
// a password that is also the project's name cannot be hidden by mangling
// every command that names the project.
func (r *Set) Protect(names ...string) {
	if r == nil {
		return
	}
	for _, n := range names {
		if n != "" {
			r.names = append(r.names, n)
		}
	}
}

// Weak returns the secrets that are part of a protected name, each with
// the first name it is part of: they cannot be hidden, and the caller warns.
func (r *Set) Weak(secrets ...string) map[string]string {
	out := map[string]string{}
	if r == nil {
		return out
	}
	for _, sec := range secrets {
		if len(sec) < 3 {
			continue
		}
		for _, n := range r.names {
			if strings.Contains(n, sec) {
				out[sec] = n
				break
			}
		}
	}
	return out
}

// protected reports whether s[i:j] lies within an occurrence of a
// protected name.
func (r *Set) protected(s string, i, j int) bool {
	for _, n := range r.names {
		for from := max(0, j-len(n)); from <= i && from+len(n) <= len(s); {
			k := strings.Index(s[from:], n)
			if k < 0 {
				break
			}
			start := from + k
			if start > i {
				break
			}
			if start+len(n) >= j {
				return true
			}
			from = start + 1
		}
	}
	return false
}

// Of is a Set of the given secrets.
func Of(secrets ...string) *Set {
	s := &Set{}
	for _, x := range secrets {
		s.Add(x)
	}
	return s
}

// Add registers a secret. Secrets shorter than 3 characters are not
// scrubbed by value (they would mangle ordinary words); URLs are still
// redacted by structure.
func (r *Set) Add(secret string) {
	if r == nil || len(secret) < 3 {
		return
	}
	for _, s := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
		dup := false
		for _, have := range r.secrets {
			dup = dup || have == s
		}
		if !dup {
			r.secrets = append(r.secrets, s)
		}
	}
}

// Secrets are the values it hides (for a CI runner's masks).
func (r *Set) Secrets() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.secrets...)
}

// String returns s with every known secret replaced by xxxxx, except where
// the same text is a name (user=…, database=…, a URL's scheme or user): a
// password equal to the user name must not turn user=postgres into
// user=xxxxx.
func (r *Set) String(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		var b strings.Builder
		rest := s
		for {
			i := strings.Index(rest, sec)
			if i < 0 {
				b.WriteString(rest)
				break
			}
			done := s[:len(s)-len(rest)] + rest[:i]
			b.WriteString(rest[:i])
			if at := len(done); r.isName(done, rest[i+len(sec):], sec) || r.protected(s, at, at+len(sec)) {
				b.WriteString(sec)
			} else {
				b.WriteString("xxxxx")
			}
			rest = rest[i+len(sec):]
		}
		s = b.String()
	}
	return s
}

// isName reports whether an occurrence of a secret, between before and
// after, is a name that happens to be spelled the same: a user or database
// field, a URL's scheme or user.
func (r *Set) isName(before, after, sec string) bool {
	for _, k := range []string{"user=", "database=", "dbname=", "host=", "user \"", "database \""} {
		if strings.HasSuffix(before, k) {
			return true
		}
	}
	if strings.HasPrefix(after, "://") {
		return true
	}
	if strings.HasSuffix(before, "//") && (strings.HasPrefix(after, ":") || strings.HasPrefix(after, "@")) {
		return true
	}
	// A URL's path after user-info and host is its database's name.
	if i := strings.LastIndex(before, "://"); i >= 0 && strings.HasSuffix(before, "/") {
		rest := before[i+3:]
		if !strings.ContainsAny(rest, " \t\n") && strings.Contains(rest, "@") && strings.Count(rest, "/") == 1 {
			return true
		}
	}
	return false
}

// Error is err with its text scrubbed; errors.As and errors.Is still see
// the original (codes, net errors).
func (r *Set) Error(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbed{msg: r.String(err.Error()), err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
