package jobdef

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/testutil/lavadeb"
)

// LAVA's sample jobs, as its documentation publishes them (Debian's
// lava-server-doc ships doc/v2/examples/test-jobs), are read as LAVA
// reads them: what LAVA's submission accepts is accepted unless Basalt
// cannot run it, and then the refusal names the capability. The files
// are LAVA's: the test reads them from the package, never from this
// repository.

// lavaSamplesAccepted are the sample jobs Parse accepts, with the warnings
// each must have (substrings, in order).
var lavaSamplesAccepted = map[string][]string{
	"bbb-uboot-interactive.yaml":             nil, // commands: [] (LAVA's default: none)
	"first-multinode-job.yaml":               nil,
	"inline-test-definition-example.yaml":    nil,
	"qemu-aarch64.yaml":                      nil,
	"qemu-amd64-standard-stretch.yaml":       nil,
	"qemu-kernel-standard-sid.yaml":          nil,
	"qemu-kmsg-events.yaml":                  nil,
	"qemu-notify.yaml":                       nil,
	"qemu-pipeline-first-job.yaml":           nil,
	"qemu-stretch-params.yaml":               {`$.actions[2].test.definitions[0].parameters.VARIABLE_NAME_1: key "VARIABLE_NAME_1" is written again (first at 53:9)`},
	"qemu-test-events.yaml":                  nil,
	"standard-armmp-ramdisk-arndale.yaml":    nil,
	"standard-armmp-ramdisk-bbb.yaml":        nil,
	"standard-armmp-ramdisk-cubietruck.yaml": nil,
	"standard-armmp-ramdisk-panda.yaml":      nil,
	"x86-sata-commands.yaml":                 nil,
}

// lavaSampleRefusals are the only reasons a sample job may be refused for:
// something Basalt does not run, said so, or a URL that is a placeholder
// of LAVA's documentation (LAVA's dispatcher refuses it too, when the job
// starts: "__FQDN__/zImage" has no scheme it can download).
var lavaSampleRefusals = []*regexp.Regexp{
	regexp.MustCompile(`^(deploy target|boot method|protocol) "?[a-z0-9-]+"? is not supported \(`),
	regexp.MustCompile(`^NFS root file systems are not supported yet$`),
	regexp.MustCompile(`^"__FQDN__/[^"]+" is not a URL \(`),
}

func TestLAVASampleJobs(t *testing.T) {
	dir := filepath.Join(lavadeb.Extract(t, "lava-server-doc"), "usr/share/doc/lava-server-doc/html/v2/examples/test-jobs")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample jobs in lava-server-doc %s (%s): %v", lavadeb.Version, dir, err)
	}
	accepted, refused := 0, 0
	reasons := map[string]int{}
	for _, f := range files {
		name := filepath.Base(f)
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		job, err := Parse(src)
		want, ok := lavaSamplesAccepted[name]
		if ok {
			if err != nil {
				t.Errorf("%s: refused:\n%v", name, err)
				continue
			}
			accepted++
			var got []string
			for _, w := range job.Warnings {
				got = append(got, w.String())
			}
			if len(got) != len(want) {
				t.Errorf("%s: warnings %q, want %q", name, got, want)
				continue
			}
			for i := range want {
				if !strings.Contains(got[i], want[i]) {
					t.Errorf("%s: warning %q, want %q", name, got[i], want[i])
				}
			}
			// Strict refuses exactly what was a warning.
			if _, err := Parse(src, Strict()); (err != nil) != (len(want) > 0) {
				t.Errorf("%s: Strict: %v with %d warnings", name, err, len(want))
			}
			continue
		}
		var list *Errors
		if !errors.As(err, &list) {
			t.Errorf("%s: accepted (warnings %v); add it to lavaSamplesAccepted if Basalt now runs it", name, job.Warnings)
			continue
		}
		refused++
		for _, e := range list.Items {
			if !slices.ContainsFunc(lavaSampleRefusals, func(re *regexp.Regexp) bool { return re.MatchString(e.Msg) }) {
				t.Errorf("%s: refused for something LAVA accepts and Basalt should too: %v", name, e)
			}
			reasons[regexp.MustCompile(`\(.*`).ReplaceAllString(e.Msg, "")]++
		}
	}
	for name := range lavaSamplesAccepted {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s is not in lava-server-doc %s", name, lavadeb.Version)
		}
	}
	t.Logf("%d of %d sample jobs of lava-server-doc %s accepted, %d refused for:", accepted, len(files), lavadeb.Version, refused)
	for _, r := range slices.Sorted(maps.Keys(reasons)) {
		t.Logf("  %3d × %s", reasons[r], r)
	}
}
