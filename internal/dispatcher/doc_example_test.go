package dispatcher

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDocumentedExample runs the device and job of
// docs/simulated-devices.md and checks the results the page promises.
func TestDocumentedExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/simulated-devices.md")
	if err != nil {
		t.Fatal(err)
	}
	_, example, ok := strings.Cut(string(b), "## Example")
	if !ok {
		t.Fatal("no Example section")
	}
	var blocks []string
	for _, part := range strings.Split(example, "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		blocks = append(blocks, block)
	}
	if len(blocks) != 2 {
		t.Fatalf("%d YAML blocks in the example, want the dictionary and the job", len(blocks))
	}
	res, recs := runSim(t, blocks[1], blocks[0])
	if !res.Passed() {
		t.Fatalf("result %+v", res)
	}
	var got []string
	for _, m := range results(t, recs, "") {
		got = append(got, m.Definition+"/"+m.Case+" "+m.Result+" "+m.Measurement+" "+m.Units+" "+m.Set)
	}
	want := []string{
		"lava/validate pass   ",
		"lava/tmpfs-deploy pass   ",
		"lava/auto-login-action pass   ",
		"lava/boot-qemu-image pass   ",
		"0_smoke/kernel pass   ",
		"0_smoke/throughput pass 93.5 Mbit/s network",
		"0_smoke/known-bug fail   ",
		"lava/0_smoke pass   ",
		"lava/lava-test-shell pass   ",
		"lava/power-off pass   ",
		"lava/finalize pass   ",
		"lava/job pass   ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
