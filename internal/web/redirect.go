package web

import (
	"net/url"
	"strings"
)

// maxRedirect bounds the length of a redirect target taken from a request:
// longer ones fall back to "/".
const maxRedirect = 4096

// safeRedirect returns target when it is a path on this site, else "/".
// Every redirect to a target the request supplies (the login form's next=)
// goes through it: it is what stops the login page from being an open
// redirect.
//
// A target is accepted only when it is printable ASCII without spaces
// (browsers drop TAB, CR and LF anywhere in a URL and treat `\` as `/`, so
// "/\t/evil.example" and "/\evil.example" become "//evil.example"), starts
// with exactly one "/", has no "//" and no dot segments in its path, parses
// without a scheme, host or user, and its percent-decoded forms (decoded
// up to three times) pass the same checks, so "/%2F/x" or "/%09/x" is
// refused too. What our own pages put in next= (a request URI, see
// loginFirst) passes.
func safeRedirect(target string) string {
	if localTarget(target) {
		return target
	}
	return "/"
}

// localTarget reports whether target passes safeRedirect's checks.
func localTarget(target string) bool {
	if target == "" || len(target) > maxRedirect {
		return false
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return false
	}
	s := target
	for range 4 {
		if !localForm(s) {
			return false
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return false
		}
		if d == s {
			return true
		}
		s = d
	}
	return false // still changing after three decodings: nothing we produce
}

// localForm checks one form (raw or decoded) of a target: no control
// character or backslash anywhere, and a path part (before "?" or "#")
// that starts with a single "/" and has no empty or dot segment.
func localForm(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	p := s
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") {
		return false
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		switch {
		case seg == "." || seg == "..":
			return false
		case seg == "" && i < len(segs)-1: // "//" somewhere; a trailing "/" is fine
			return false
		}
	}
	return true
}
