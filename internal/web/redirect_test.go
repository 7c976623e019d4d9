package web

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeRedirect(t *testing.T) {
	ok := []string{
		"/",
		"/jobs",
		"/jobs/12",
		"/jobs/12/log?start=0&end=200#L3",
		"/jobs?state=Running&q=http://x.example/a",
		"/jobs?q=a%2F%2Fb",
		"/devices/board%20one",
		"/jobs/new",
		"/tokens/",
		"/#top",
	}
	for _, s := range ok {
		if got := safeRedirect(s); got != s {
			t.Errorf("safeRedirect(%q) = %q, want it kept", s, got)
		}
	}
	// Each of these leaves the site in some browser (or is nothing our
	// pages produce); all fall back to "/".
	bad := []string{
		"",
		"//evil.example",
		"///evil.example",
		"/\\evil.example",
		"\\/evil.example",
		"\\/\\/evil.example",
		"\\\\evil.example",
		"/\t/evil.example",
		"/\n/evil.example",
		"/\r/evil.example",
		"\t//evil.example",
		" //evil.example",
		"/ /evil.example",
		"/\x00/evil.example",
		"/\x7f/evil.example",
		"/\u3000/evil.example",
		"/\u00a0/evil.example",
		"%2F%2Fevil.example",
		"%2f%2fevil.example",
		"/%2F/evil.example",
		"/%2f%2fevil.example",
		"/%5Cevil.example",
		"/%5c/evil.example",
		"/%09/evil.example",
		"/%0a/evil.example",
		"/%0D%0A/evil.example",
		"/%252F/evil.example",
		"/%25252F/evil.example",
		"/%2525252F/evil.example",
		"/%zz",
		"https:evil.example",
		"https://evil.example",
		"javascript:alert(1)",
		"data:text/html,x",
		"evil.example",
		"./evil.example",
		"/.//evil.example",
		"/./evil.example",
		"/../evil.example",
		"/a/../../evil.example",
		"/a/..",
		"/%2e%2e/evil.example",
		"/%2E/%2Fevil.example",
		"/a//evil.example",
		"/a%3F//evil.example",
		"//user@evil.example/",
		"/" + strings.Repeat("a", maxRedirect),
	}
	for _, s := range bad {
		if got := safeRedirect(s); got != "/" {
			t.Errorf("safeRedirect(%q) = %q, want /", s, got)
		}
	}
}

// browserForm is what a browser makes of a Location value before it
// resolves it: TAB, CR and LF removed, backslashes read as slashes, leading
// and trailing C0 controls and spaces trimmed.
func browserForm(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\r', '\n':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, s)
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}

func FuzzSafeRedirect(f *testing.F) {
	for _, s := range []string{"/", "/jobs/1?x=y#z", "//x", "/\\x", "/\t/x", "%2F%2Fx", "/%09/x", "https:x",
		"\\/\\/x", "/.//x", "/%2e%2e/x", "/%252F/x", "/a?b=//c", "/#//x"} {
		f.Add(s)
	}
	base, err := url.Parse("http://basalt.example/jobs/1")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeRedirect(s)
		if got != s && got != "/" {
			t.Fatalf("safeRedirect(%q) = %q: neither the input nor /", s, got)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("accepted %q does not parse: %v", got, err)
		}
		if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("accepted %q has scheme %q, host %q, user %v, opaque %q", got, u.Scheme, u.Host, u.User, u.Opaque)
		}
		if b := browserForm(got); !strings.HasPrefix(b, "/") || strings.HasPrefix(b, "//") {
			t.Fatalf("accepted %q reads as %q in a browser", got, b)
		}
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
			t.Fatalf("accepted %q resolves to %s", got, r)
		}
		if d, err := url.PathUnescape(got); err == nil && strings.HasPrefix(browserForm(d), "//") {
			t.Fatalf("accepted %q decodes to %q", got, d)
		}
	})
}
