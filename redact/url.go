package redact

import (
	"net/url"
	"strings"
)

// URLPassword is the password in a scheme://user:password@host value.
// decoded is what a server is given (PGPASSWORD); forms are every spelling
// that output may show: the decoded one and, where it differs, the one as
// written, still percent-encoded. Both are empty when the value has none.
// A value url.Parse refuses is still read, by its "://" and the last "@"
// of its authority.
func URLPassword(raw string) (decoded string, forms []string) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "", nil
	}
	// The authority ends at the first /, ? or #; its last @ ends the
	// userinfo (an @ in the path, query or fragment is not one).
	authority := raw[i+3:]
	if end := strings.IndexAny(authority, "/?#"); end >= 0 {
		authority = authority[:end]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return "", nil
	}
	_, written, ok := strings.Cut(authority[:at], ":")
	if !ok || written == "" {
		return "", nil
	}
	decoded = written
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			decoded = pw
		}
	} else if pw, err := url.PathUnescape(written); err == nil {
		decoded = pw
	}
	if decoded == "" {
		return "", nil
	}
	forms = []string{decoded}
	if written != decoded {
		forms = append(forms, written)
	}
	return decoded, forms
}

// AddURL adds the password of a URL, in every spelling, to the set.
func (r *Set) AddURL(raw string) {
	_, forms := URLPassword(raw)
	for _, f := range forms {
		r.Add(f)
	}
}
