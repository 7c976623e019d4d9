// Package pyref runs Debian's Python 3 as the reference of tests that
// compare Basalt's output with Python's own (repr, json, PyYAML, uuid).
package pyref

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

// Python is the interpreter: Debian's python3 (with python3-yaml where a
// script imports yaml).
const Python = "/usr/bin/python3"

// Run runs script with Python, in written to its standard input as JSON,
// and decodes what it writes to its standard output as JSON into out. A
// missing interpreter or module fails the test and says what to install.
func Run(t testing.TB, script string, in, out any) {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Python, "-c", script)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s is the reference (Debian's python3 and python3-yaml packages): %v\n%s", Python, err, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("%s wrote no JSON: %v\n%s", Python, err, stdout)
	}
}
