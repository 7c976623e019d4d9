package simdevice

import (
	"context"
	"strings"
)

// MultinodeCache is where the multinode helpers keep what the last
// lava-wait, lava-wait-all or lava-sync received (LAVA's
// /tmp/lava_multi_node_cache.txt); cat prints it.
const MultinodeCache = "/tmp/lava_multi_node_cache.txt"

// multinodeAPI names the console API of each multinode helper.
var multinodeAPI = map[string]string{
	"lava-send":     "LAVA_SEND",
	"lava-wait":     "LAVA_WAIT",
	"lava-wait-all": "LAVA_WAIT_ALL",
	"lava-sync":     "LAVA_SYNC",
}

// multinode runs LAVA's multinode helpers lava-send, lava-wait,
// lava-wait-all and lava-sync as the overlay's scripts do: print the call
// for the dispatcher ("<LAVA_MULTI_NODE> <LAVA_SEND id key=value>"); the
// waits then read the console until the dispatcher's answer
// (<LAVA_WAIT_COMPLETE …>, …) and keep its key=value pairs in
// MultinodeCache, one "sender:key=value" per line.
func (m *machine) multinode(ctx context.Context, name string, args []string) (int, error) {
	api := multinodeAPI[name]
	if len(args) == 0 || args[0] == "" || isPair(args[0]) {
		return statusFail, nil // LAVA's helpers exit 1 without a word
	}
	words := []string{args[0]}
	switch name {
	case "lava-send":
		for _, a := range args[1:] {
			if isPair(a) {
				words = append(words, a)
			}
		}
	case "lava-wait-all":
		if len(args) > 1 {
			words = append(words, args[1])
		}
	}
	// The scripts print their words unquoted: blanks collapse.
	call := strings.Join(strings.Fields(strings.Join(words, " ")), " ")
	if err := m.print(ctx, "<LAVA_MULTI_NODE> <"+api+" "+call+">\n"); err != nil {
		return 0, err
	}
	if name == "lava-send" {
		return statusOK, nil
	}
	reply := "<" + api + "_COMPLETE"
	for {
		line, err := m.in.readLine(ctx)
		if err != nil {
			return 0, err
		}
		if err := m.print(ctx, line+"\n"); err != nil { // the terminal's echo
			return 0, err
		}
		i := strings.Index(line, reply)
		if i < 0 || !strings.HasPrefix(line[i+len(reply):], " ") && !strings.HasPrefix(line[i+len(reply):], ">") {
			continue
		}
		msg := strings.TrimSuffix(strings.TrimSpace(line[i+len(reply):]), ">")
		return statusOK, m.keepMessage(ctx, api, msg)
	}
}

// keepMessage writes an answer's pairs to the cache, replacing it, and
// reports a nack as the scripts do (their status stays 0, as LAVA's).
func (m *machine) keepMessage(ctx context.Context, api, msg string) error {
	delete(m.files, MultinodeCache)
	var cache strings.Builder
	for _, line := range splitSenders(msg) {
		switch {
		case isPair(line):
			cache.WriteString(line + "\n")
		case line == "nack":
			if err := m.print(ctx, "Error:no-response "+msg+", Exit from "+api+"!\n"); err != nil {
				return err
			}
		default:
			if err := m.print(ctx, "Warning:unrecognized message "+line+"\n"); err != nil {
				return err
			}
		}
	}
	if cache.Len() > 0 {
		m.files[MultinodeCache] = cache.String()
	}
	return nil
}

// splitSenders cuts an answer before each "<digits>:" word (a sender's
// job id), one part per pair.
func splitSenders(msg string) []string {
	var out []string
	for _, w := range strings.Fields(msg) {
		if id, _, ok := strings.Cut(w, ":"); ok && id != "" && strings.Trim(id, "0123456789") == "" || len(out) == 0 {
			out = append(out, w)
			continue
		}
		out[len(out)-1] += " " + w
	}
	return out
}

// isPair reports whether s is key=value with at least one character on
// each side of an "=" (the scripts' grep "..*=..*").
func isPair(s string) bool {
	i := strings.Index(s[min(1, len(s)):], "=")
	return i >= 0 && i+2 < len(s)
}
