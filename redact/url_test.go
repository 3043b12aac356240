package redact

import (
	"slices"
	"testing"
)

func TestURLPassword(t *testing.T) {
	for _, tc := range []struct {
		raw, decoded string
		forms        []string
	}{
		{"postgres://app:s3cret@db:5432/app", "s3cret", []string{"s3cret"}},
		{"postgres://app:p%40ss%2Fw0rd@db/app", "p@ss/w0rd", []string{"p@ss/w0rd", "p%40ss%2Fw0rd"}},
		{"postgres://app:p@ss@db/app", "p@ss", []string{"p@ss"}}, // the last @ ends the userinfo
		{"redis://:only-a-password@cache:6379", "only-a-password", []string{"only-a-password"}},
		{"postgres://app@db/app", "", nil},
		{"postgres://app:@db/app", "", nil},
		{"https://example.com/a@b", "", nil},                                    // an @ in the path
		{"postgres://app:pw@db/app?sslrootcert=/etc/a@b", "pw", []string{"pw"}}, // and in the query
		{"not a url", "", nil},
		{"postgres://app:100%pure@db/app", "100%pure", []string{"100%pure"}}, // url.Parse refuses it: read as written
	} {
		decoded, forms := URLPassword(tc.raw)
		if decoded != tc.decoded || !slices.Equal(forms, tc.forms) {
			t.Errorf("URLPassword(%q) = %q, %q; want %q, %q", tc.raw, decoded, forms, tc.decoded, tc.forms)
		}
	}
}

func FuzzURLPassword(f *testing.F) {
	f.Add("postgres://app:p%40ss@db/app")
	f.Add("x://:@")
	f.Fuzz(func(t *testing.T, raw string) {
		decoded, forms := URLPassword(raw)
		if (decoded == "") != (len(forms) == 0) || (len(forms) > 0 && forms[0] != decoded) {
			t.Fatalf("URLPassword(%q) = %q, %q", raw, decoded, forms)
		}
	})
}
