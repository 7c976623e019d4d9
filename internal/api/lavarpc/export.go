package lavarpc

import (
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/pyyaml"
)

// ExportYAML is LAVA's YAML export of test cases of job jobID: PyYAML's
// safe dump of a list of export_testcase rows, as results.* returns them
// and as a notify callback's results dataset carries each suite's cases.
func ExportYAML(jobID int64, cases []lab.TestCase) (string, error) {
	rows := make([]any, len(cases))
	for i, tc := range cases {
		row, err := resultRow(jobID, tc)
		if err != nil {
			return "", err
		}
		rows[i] = row
	}
	return pyyaml.Dump(rows)
}
