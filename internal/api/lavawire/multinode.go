package lavawire

import "github.com/basalt-lab/basalt/internal/lab"

// JobDefinitions returns a job's original_definition and
// multinode_definition as LAVA shows them: a multinode sub-job's original
// definition is its own (split) definition and its multinode definition
// the whole submission; other jobs have no multinode definition.
func JobDefinitions(j lab.Job) (original, multinode string) {
	if j.Multinode != nil {
		return j.Definition, j.OriginalDefinition
	}
	return j.OriginalDefinition, ""
}

// SubID is a job's sub_id: "<parent id>.<n>" for a multinode sub-job, ""
// for other jobs.
func SubID(j lab.Job) string {
	if j.Multinode != nil {
		return j.Multinode.SubID
	}
	return ""
}
