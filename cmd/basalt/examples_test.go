package main_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/basalt-lab/basalt/internal/dispatcher/simdevice"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// TestExamplesParse keeps the job definitions shipped in examples/ valid
// (a multinode one splits into its roles' jobs).
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		job, err := jobdef.Parse(src)
		if err != nil {
			t.Errorf("%s:\n%v", f, err)
			continue
		}
		if job.Protocols.Multinode != nil { // the server splits it into its roles' jobs
			if subs, err := jobdef.Split(src, job, "example-group"); err != nil || len(subs) < 2 {
				t.Errorf("%s: split into %d jobs: %v", f, len(subs), err)
			}
		}
	}
}

// TestExampleDevicesParse keeps the device dictionaries in examples/devices valid.
func TestExampleDevicesParse(t *testing.T) {
	files, err := filepath.Glob("../../examples/devices/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example devices: %v", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, sim, err := simdevice.ParseDictionary(string(src)); err != nil || !sim {
			t.Errorf("%s: simulated=%v, %v", f, sim, err)
		}
	}
}
