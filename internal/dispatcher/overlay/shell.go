package overlay

import "strings"

// shellQuote quotes s for a POSIX shell the way Python's shlex.quote does
// (and LAVA with it): unchanged when it is made only of letters, digits and
// @%+=:,./-_, otherwise in single quotes, each ' written as '"'"'.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("@%+=:,./-_", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
