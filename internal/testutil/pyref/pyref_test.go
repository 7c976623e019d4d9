package pyref_test

import (
	"testing"

	"github.com/basalt-lab/basalt/internal/testutil/pyref"
)

func TestRun(t *testing.T) {
	var got []string
	pyref.Run(t, "import json, sys\njson.dump([repr(x) for x in json.load(sys.stdin)], sys.stdout)", []any{"a", 1.5, nil}, &got)
	if len(got) != 3 || got[0] != "'a'" || got[1] != "1.5" || got[2] != "None" {
		t.Errorf("got %q", got)
	}
}
