package jobdef

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/testutil/lavadeb"
)

// Split is held to LAVA's own split: lava_scheduler_app.utils.
// split_multinode_yaml from Debian's lava-server package is run (by
// /usr/bin/python3, with PyYAML) on every multinode sample job of
// lava-server-doc, and each of its sub-jobs is compared, as PyYAML reads
// it, with the definition Split writes for the same role and sub_id, as
// PyYAML reads it. The module imports Django, which Debian's lava-server
// does not pull into a test machine: the driver below reads the module's
// source, takes the function alone (Python's ast) and runs it with what it
// uses (copy, typing.Any, an exception class). The files are LAVA's: the
// test reads them from the packages, never from this repository.

// lavaMultinodeSamples are the multinode sample jobs of lava-server-doc,
// and whether Parse accepts them. Those it refuses (for what Basalt does
// not run) are split from their tree, as Split does once Parse accepts.
var lavaMultinodeSamples = map[string]bool{
	"first-multinode-job.yaml":  true,
	"second-multinode-job.yaml": false, // tftp, u-boot, nfs
	"mustang-ssh-guest.yaml":    false, // tftp, grub-efi, ssh
	"bbb-lxc-ssh-guest.yaml":    false, // lava-lxc, tftp, u-boot, ssh
}

// lavaSplitDriver runs LAVA's split_multinode_yaml on each case of the
// request (argv[2], JSON: [{submission, target_group, ours: [yaml...]}])
// and prints, per case, LAVA's sub-jobs as [role, job] pairs in LAVA's
// order, ours as PyYAML reads them, and the submission.
const lavaSplitDriver = `
import ast, copy, json, sys, typing
import yaml
try:
    from yaml import CSafeLoader as Loader
except ImportError:
    from yaml import SafeLoader as Loader

utils, request = sys.argv[1], sys.argv[2]
tree = ast.parse(open(utils, encoding="utf-8").read(), utils)
fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "split_multinode_yaml"]
if len(fns) != 1:
    sys.exit("split_multinode_yaml is not in " + utils)

class SubmissionException(Exception):
    pass

def not_compared(*args):
    raise SubmissionException("lava-vland is not compared")

ns = {"copy": copy, "Any": typing.Any, "SubmissionException": SubmissionException,
      "_split_multinode_vland": not_compared}
exec(compile(ast.Module(body=fns, type_ignores=[]), utils, "exec"), ns)
split = ns["split_multinode_yaml"]

def plain(v):
    # JSON has no NaN nor infinity: spell them as YAML does.
    if isinstance(v, float) and v != v:
        return ".nan"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return ".inf" if v > 0 else "-.inf"
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v

out = []
for case in json.load(open(request, encoding="utf-8")):
    submission = yaml.load(open(case["submission"], encoding="utf-8").read(), Loader=Loader)
    jobs = split(copy.deepcopy(submission), case["target_group"])
    out.append({
        "lava": [[role, job] for role, role_jobs in jobs.items() for job in role_jobs],
        "ours": [yaml.load(d, Loader=Loader) for d in case["ours"]],
        "submission": submission,
    })
json.dump(plain(out), sys.stdout, default=str, allow_nan=False)
`

func TestSplitMatchesLAVA(t *testing.T) {
	docs := filepath.Join(lavadeb.Extract(t, "lava-server-doc"), "usr/share/doc/lava-server-doc/html/v2/examples/test-jobs")
	utils := filepath.Join(lavadeb.Extract(t, "lava-server"), "usr/lib/python3/dist-packages/lava_scheduler_app/utils.py")
	if _, err := os.Stat(utils); err != nil {
		t.Fatalf("lava-server %s has no lava_scheduler_app/utils.py: %v", lavadeb.Version, err)
	}
	files, err := filepath.Glob(filepath.Join(docs, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample jobs in lava-server-doc %s (%s): %v", lavadeb.Version, docs, err)
	}

	type request struct {
		Submission  string   `json:"submission"`
		TargetGroup string   `json:"target_group"`
		Ours        []string `json:"ours"`
	}
	var reqs []request
	var names []string
	var ours [][]subTree
	reparsed, refusedSubs := 0, 0 // sub-jobs of the samples Parse refuses
	// Basalt's own split fixtures are compared too: they hold what the
	// samples do not (count 2, essential, tags, environment, device,
	// worker, a role timeout the block's replaces, anchors).
	fixtures, err := filepath.Glob("testdata/split/*/submission.yaml")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures in testdata/split: %v", err)
	}
	for _, f := range fixtures {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		job, err := Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		subs, err := Split(src, job, testGroup)
		if err != nil {
			t.Fatalf("%s: Split: %v", f, err)
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		var defs []string
		var trees []subTree
		for _, s := range subs {
			defs = append(defs, s.Definition)
			trees = append(trees, subTree{role: s.Role, index: s.Index})
		}
		reqs = append(reqs, request{Submission: abs, TargetGroup: testGroup, Ours: defs})
		names = append(names, f)
		ours = append(ours, trees)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		errs := &errList{}
		root := readTree(src, errs)
		if root == nil || lookup(root, "protocols", "lava-multinode") == nil {
			continue
		}
		name := filepath.Base(f)
		accepted, known := lavaMultinodeSamples[name]
		if !known {
			t.Errorf("%s: a multinode sample not in lavaMultinodeSamples", name)
			continue
		}
		var defs []string
		var trees []subTree
		if accepted {
			job, err := Parse(src)
			if err != nil {
				t.Errorf("%s: refused:\n%v", name, err)
				continue
			}
			subs, err := Split(src, job, testGroup)
			if err != nil {
				t.Errorf("%s: Split: %v", name, err)
				continue
			}
			for _, s := range subs {
				defs = append(defs, s.Definition)
				trees = append(trees, subTree{role: s.Role, index: s.Index})
			}
		} else {
			if _, err := Parse(src); err == nil {
				t.Errorf("%s: accepted; set it to true in lavaMultinodeSamples", name)
				continue
			}
			trees, err = splitTree(root, testGroup)
			if err != nil {
				t.Errorf("%s: split: %v", name, err)
				continue
			}
			for _, st := range trees {
				def, err := emit(st.root, MaxSourceSize)
				if err != nil {
					t.Fatalf("%s: emit: %v", name, err)
				}
				defs = append(defs, string(def))
				if checkRefusedSubJob(t, name, st, def) {
					reparsed++
				} else {
					refusedSubs++
				}
			}
		}
		reqs = append(reqs, request{Submission: f, TargetGroup: testGroup, Ours: defs})
		names = append(names, name)
		ours = append(ours, trees)
	}
	for name := range lavaMultinodeSamples {
		if !slices.Contains(names, name) && !t.Failed() {
			t.Errorf("%s is not a multinode sample of lava-server-doc %s", name, lavadeb.Version)
		}
	}
	if len(reqs) == 0 {
		t.Fatal("no multinode sample to compare")
	}

	out := runLAVASplit(t, utils, reqs)
	if len(out) != len(reqs) {
		t.Fatalf("the driver answered %d cases for %d", len(out), len(reqs))
	}
	compared := 0
	for i, c := range out {
		name := names[i]
		lava := adjustLAVA(c.Submission, c.LAVA)
		if len(lava) != len(c.Ours) {
			t.Errorf("%s: LAVA makes %d jobs, Split %d", name, len(lava), len(c.Ours))
			continue
		}
		for j, pair := range lava {
			role, job := pair[0], pair[1]
			if st := ours[i][j]; role != st.role {
				t.Errorf("%s: job %d: LAVA's role %v, ours %q", name, j, role, st.role)
			}
			if diff := cmp.Diff(job, c.Ours[j]); diff != "" {
				t.Errorf("%s: job %d (role %v) differs from LAVA's split (-lava +ours):\n%s", name, j, role, diff)
				continue
			}
			compared++
		}
		t.Logf("%s: %d jobs equal to LAVA's split", name, len(lava))
	}
	t.Logf("of the sub-jobs of the samples Parse refuses, %d parse with ServerGenerated, %d are refused only for what Basalt does not run", reparsed, refusedSubs)
	t.Logf("compared %d sub-jobs of %d multinode jobs (%d of Basalt's fixtures, the others lava-server-doc's samples) with split_multinode_yaml of lava-server %s",
		compared, len(out), len(fixtures), lavadeb.Version)
}

// checkRefusedSubJob: a sub-job of a sample Parse refuses is refused only
// for what Basalt does not run (lavaSampleRefusals), as its submission is.
// It reports whether the sub-job parses (a role whose actions Basalt all
// runs).
func checkRefusedSubJob(t *testing.T, name string, st subTree, def []byte) bool {
	t.Helper()
	_, err := Parse(def, ServerGenerated())
	var list *Errors
	if !errors.As(err, &list) {
		return true
	}
	for _, e := range list.Items {
		if !slices.ContainsFunc(lavaSampleRefusals, func(re *regexp.Regexp) bool { return re.MatchString(e.Msg) }) {
			t.Errorf("%s: sub-job %d (role %s) refused for something else than its submission:\n%v\n%s", name, st.index, st.role, e, def)
		}
	}
	return false
}

type lavaSplitCase struct {
	LAVA       [][2]any       `json:"lava"`
	Ours       []any          `json:"ours"`
	Submission map[string]any `json:"submission"`
}

func runLAVASplit(t *testing.T, utils string, reqs any) []lavaSplitCase {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "split.py")
	req := filepath.Join(dir, "request.json")
	body, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(lavaSplitDriver), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(req, body, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", script, utils, req)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("LAVA's split_multinode_yaml could not run (needs /usr/bin/python3 and PyYAML: apt-get install python3-yaml, or scripts/ensure-deps.sh): %v\n%s", err, stderr.String())
	}
	var out []lavaSplitCase
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("driver output: %v\n%.2000s", err, stdout)
	}
	return out
}

// adjustLAVA brings the split of lava-server 2023.01 (Debian's) to LAVA's
// current one, which Split follows: split_multinode_yaml copies secrets
// to each job since 2026.07 ("Pass secrets to child jobs in multi-node
// setup"), and writes no lava-lxc protocol block since 2026.04 ("Drop
// LXC support"). Nothing else is changed.
func adjustLAVA(submission map[string]any, lava [][2]any) [][2]any {
	for _, pair := range lava {
		job, ok := pair[1].(map[string]any)
		if !ok {
			continue
		}
		if s, ok := submission["secrets"]; ok {
			job["secrets"] = s
		}
		if p, ok := job["protocols"].(map[string]any); ok {
			delete(p, "lava-lxc")
		}
	}
	return lava
}
