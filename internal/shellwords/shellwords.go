// Package shellwords splits command lines into words the way a POSIX
// shell splits a simple command, without expanding anything: LAVA's
// qemu image_arg and extra options, the commands a simulated device's
// shell runs, and the connection commands Basalt recognises (telnet HOST
// PORT) are written this way.
//
// Blanks (space, tab, newline, carriage return) separate words; single
// quotes keep everything literally; double quotes keep everything but
// \" \\ \$ \` (and a backslash-newline), which a backslash escapes; a
// backslash outside quotes escapes the next character.
package shellwords

import (
	"errors"
	"strings"
)

// Errors of Split.
var (
	ErrSingleQuote = errors.New("unterminated single quote")
	ErrDoubleQuote = errors.New("unterminated double quote")
	ErrBackslash   = errors.New("backslash at the end")
	// ErrSyntax: with Plain, the line uses shell syntax beyond words.
	ErrSyntax = errors.New("shell syntax beyond plain words")
)

// Split splits s into words.
func Split(s string) ([]string, error) { return split(s, false) }

// Plain splits s into words when s is only words: it fails with ErrSyntax
// when s uses anything else of the shell (variables and command
// substitution, globs, redirections, pipes, command lists, comments, a
// home directory, a line continuation), whose meaning the words alone do
// not give.
func Plain(s string) ([]string, error) { return split(s, true) }

func split(s string, plain bool) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if plain && (c == '\n' || c == '\r') {
				return nil, ErrSyntax
			}
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, ErrSingleQuote
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if plain && (s[i] == '$' || s[i] == '`') {
					return nil, ErrSyntax
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, ErrDoubleQuote
			}
		case c == '\\':
			inWord = true
			if i+1 >= len(s) {
				return nil, ErrBackslash
			}
			if plain && s[i+1] == '\n' {
				return nil, ErrSyntax
			}
			i++
			cur.WriteByte(s[i])
		case plain && (strings.IndexByte("|&;<>()$`*?[", c) >= 0 || (c == '#' || c == '~') && !inWord):
			return nil, ErrSyntax
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
