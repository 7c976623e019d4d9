package lavarpc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// resultsYAML are the cases of jobLog as LAVA's YAML export gives them,
// suite by suite ({job} and the {case} ids are filled in).
var resultsYAML = map[string]string{
	"http-download": `- name: http-download
  job: '{job}'
  suite: lava
  result: pass
  measurement: '0.5100000000'
  unit: seconds
  level: 1.1.1
  url: /jobs/{job}/log?start=1#L1
  id: '{http-download}'
  logged: '2026-08-21 10:00:01+00:00'
  log_start_line: '1'
  log_end_line: '1'
  metadata:
    case: http-download
    definition: lava
    duration: '0.51'
    level: 1.1.1
    result: pass
`,
	"job": `- name: job
  job: '{job}'
  suite: lava
  result: fail
  measurement: None
  unit: ''
  level: ''
  url: /jobs/{job}/log?start=8#L8
  id: '{job-case}'
  logged: '2026-08-21 10:00:07+00:00'
  log_start_line: '8'
  log_end_line: '8'
  metadata:
    case: job
    definition: lava
    error_msg: smoke failed
    error_type: Test
    result: fail
`,
	"uname": `- name: uname
  job: '{job}'
  suite: 0_smoke
  result: pass
  measurement: None
  unit: ''
  level: ''
  url: /jobs/{job}/log?start=5#L5
  id: '{uname}'
  logged: '2026-08-21 10:00:04+00:00'
  log_start_line: '5'
  log_end_line: '5'
  metadata:
    case: uname
    definition: 0_smoke
    result: pass
`,
	"speed": `- name: speed
  job: '{job}'
  suite: 0_smoke
  result: fail
  measurement: '1.5000000000'
  unit: s
  level: ''
  url: /jobs/{job}/log?start=6#L6
  id: '{speed}'
  logged: '2026-08-21 10:00:05+00:00'
  log_start_line: '6'
  log_end_line: '6'
  metadata:
    case: speed
    definition: 0_smoke
    measurement: 1.5
    result: fail
    units: s
`,
}

// resultsCSV are the same cases as LAVA's CSV export rows.
var resultsCSV = map[string]string{
	"header":        `"job","suite","result","measurement","unit","duration","timeout","logged","level","metadata","url","name","id","log_start_line","log_end_line"` + "\r\n",
	"http-download": `"{job}","lava","pass","0.5100000000","seconds","","","2026-08-21 10:00:01+00:00","1.1.1","{'case': 'http-download', 'definition': 'lava', 'duration': '0.51', 'level': '1.1.1', 'result': 'pass'}","/jobs/{job}/log?start=1#L1","http-download","{http-download}","1","1"` + "\r\n",
	"job":           `"{job}","lava","fail","None","","","","2026-08-21 10:00:07+00:00","","{'case': 'job', 'definition': 'lava', 'error_msg': 'smoke failed', 'error_type': 'Test', 'result': 'fail'}","/jobs/{job}/log?start=8#L8","job","{job-case}","8","8"` + "\r\n",
	"uname":         `"{job}","0_smoke","pass","None","","","","2026-08-21 10:00:04+00:00","","{'case': 'uname', 'definition': '0_smoke', 'result': 'pass'}","/jobs/{job}/log?start=5#L5","uname","{uname}","5","5"` + "\r\n",
	"speed":         `"{job}","0_smoke","fail","1.5000000000","s","","","2026-08-21 10:00:05+00:00","","{'case': 'speed', 'definition': '0_smoke', 'measurement': 1.5, 'result': 'fail', 'units': 's'}","/jobs/{job}/log?start=6#L6","speed","{speed}","6","6"` + "\r\n",
}

// resultsFiller fills in the ids of the public job's cases.
func resultsFiller(t *testing.T, e *jobEnv) func(parts ...string) string {
	t.Helper()
	cases, _, err := e.App.JobResults(context.Background(), e.Principal(admin), e.pubJob, store.CaseFilter{})
	must(t, err)
	pairs := []string{"{job}", fmt.Sprint(e.pubJob)}
	for _, c := range cases {
		name := "{" + c.Name + "}"
		if c.Name == "job" {
			name = "{job-case}"
		}
		pairs = append(pairs, name, fmt.Sprint(c.ID))
	}
	r := strings.NewReplacer(pairs...)
	return func(parts ...string) string { return r.Replace(strings.Join(parts, "")) }
}

func TestResultMethods(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newJobEnv(t, b)
			fill := resultsFiller(t, e)
			y, c := resultsYAML, resultsCSV
			pubID, privID := e.pubJob, e.privJob
			job := fmt.Sprint(pubID)
			metaJob := e.Submit(alice, labtest.Job("with metadata", "qemu", "metadata:\n  build: '42'\n  arch: arm64"))
			const (
				authRequired  = "Authentication with user and token required for this API."
				noJob         = "Specified job not found."
				noSuite       = "Specified test suite not found."
				noCase        = "Specified test case not found."
				noID          = "Bad request: TestJob id was not specified."
				suitesYAML    = "- name: lava\n  job: '{job}'\n  id: '1'\n- name: 0_smoke\n  job: '{job}'\n  id: '2'\n"
				suitesCSV     = "\"name\",\"job\",\"id\"\r\n\"lava\",\"{job}\",\"1\"\r\n\"0_smoke\",\"{job}\",\"2\"\r\n"
				suitesCSVHead = "\"name\",\"job\",\"id\"\r\n"
			)
			runCases(t, e.env, []rpcCase{
				{"job YAML", bob, "results.get_testjob_results_yaml", []any{pubID}, fill(y["http-download"], y["job"], y["uname"], y["speed"]), 0, ""},
				{"job YAML by a string id", alice, "results.get_testjob_results_yaml", []any{job}, fill(y["http-download"], y["job"], y["uname"], y["speed"]), 0, ""},
				{"job CSV", bob, "results.get_testjob_results_csv", []any{pubID}, fill(c["header"], c["http-download"], c["job"], c["uname"], c["speed"]), 0, ""},
				{"suite YAML", bob, "results.get_testsuite_results_yaml", []any{pubID, "0_smoke"}, fill(y["uname"], y["speed"]), 0, ""},
				{"suite YAML, a page", bob, "results.get_testsuite_results_yaml", []any{pubID, "lava", int64(1), int64(1)}, fill(y["job"]), 0, ""},
				{"suite YAML, a limit", bob, "results.get_testsuite_results_yaml", []any{pubID, "lava", int64(1)}, fill(y["http-download"]), 0, ""},
				{"suite YAML, an offset alone is ignored", bob, "results.get_testsuite_results_yaml", []any{pubID, "lava", nil, int64(1)},
					fill(y["http-download"], y["job"]), 0, ""},
				{"suite YAML, past the end", bob, "results.get_testsuite_results_yaml", []any{pubID, "lava", int64(5), int64(2)}, "[]\n", 0, ""},
				{"suite YAML, a negative offset", bob, "results.get_testsuite_results_yaml", []any{pubID, "lava", int64(5), int64(-1)}, "[]\n", 0, ""},
				{"suite CSV", bob, "results.get_testsuite_results_csv", []any{pubID, "lava"}, fill(c["header"], c["http-download"], c["job"]), 0, ""},
				{"suite CSV, a page", bob, "results.get_testsuite_results_csv", []any{pubID, "0_smoke", int64(1), int64(1)}, fill(c["header"], c["speed"]), 0, ""},
				{"suite count", anon, "results.get_testsuite_results_count", []any{pubID, "0_smoke"}, nil, 401, authRequired},
				{"suite count", bob, "results.get_testsuite_results_count", []any{pubID, "0_smoke"}, int64(2), 0, ""},
				{"case YAML", bob, "results.get_testcase_results_yaml", []any{pubID, "0_smoke", "speed"}, fill(y["speed"]), 0, ""},
				{"case YAML, no such case", bob, "results.get_testcase_results_yaml", []any{pubID, "0_smoke", "nope"}, "[]\n", 0, ""},
				{"case CSV", bob, "results.get_testcase_results_csv", []any{pubID, "lava", "job"}, fill(c["header"], c["job"]), 0, ""},
				{"case CSV, no such case", bob, "results.get_testcase_results_csv", []any{pubID, "lava", "nope"}, nil, 404, noCase},
				{"suites YAML", bob, "results.get_testjob_suites_list_yaml", []any{pubID}, fill(suitesYAML), 0, ""},
				{"suites CSV", bob, "results.get_testjob_suites_list_csv", []any{pubID}, fill(suitesCSV), 0, ""},
				{"metadata", bob, "results.get_testjob_metadata", []any{pubID}, []any{}, 0, ""},
				{"metadata of a job with some", bob, "results.get_testjob_metadata", []any{metaJob},
					[]any{map[string]any{"arch": "arm64"}, map[string]any{"build": "42"}}, 0, ""},

				// a queued job has no results
				{"job YAML of a queued job", alice, "results.get_testjob_results_yaml", []any{privID}, "[]\n", 0, ""},
				{"job CSV of a queued job", alice, "results.get_testjob_results_csv", []any{privID}, fill(c["header"]), 0, ""},
				{"suites CSV of a queued job", alice, "results.get_testjob_suites_list_csv", []any{privID}, suitesCSVHead, 0, ""},

				// faults: LAVA's, a personal job not found by others
				{"anonymously", anon, "results.get_testjob_results_yaml", []any{pubID}, nil, 401, authRequired},
				{"personal job of another user", bob, "results.get_testjob_results_yaml", []any{privID}, nil, 404, noJob},
				{"personal job of another user, CSV", bob, "results.get_testjob_results_csv", []any{privID}, nil, 404, noJob},
				{"personal job of another user, suite", bob, "results.get_testsuite_results_yaml", []any{privID, "lava"}, nil, 404, noJob},
				{"personal job of another user, count", bob, "results.get_testsuite_results_count", []any{privID, "lava"}, nil, 404, noJob},
				{"personal job of another user, case", bob, "results.get_testcase_results_csv", []any{privID, "lava", "job"}, nil, 404, noJob},
				{"personal job of another user, suites", bob, "results.get_testjob_suites_list_yaml", []any{privID}, nil, 404, noJob},
				{"personal job of another user, metadata", bob, "results.get_testjob_metadata", []any{privID}, nil, 404, noJob},
				{"missing job", alice, "results.get_testjob_results_yaml", []any{int64(999999)}, nil, 404, noJob},
				{"no job id", alice, "results.get_testjob_results_csv", []any{""}, nil, 400, noID},
				{"missing suite", alice, "results.get_testsuite_results_yaml", []any{pubID, "nope"}, nil, 404, noSuite},
				{"missing suite, CSV", alice, "results.get_testsuite_results_csv", []any{pubID, "nope"}, nil, 404, noSuite},
				{"missing suite, count", alice, "results.get_testsuite_results_count", []any{pubID, "nope"}, nil, 404, noSuite},
				{"missing suite, case", alice, "results.get_testcase_results_yaml", []any{pubID, "nope", "job"}, nil, 404, noSuite},
			})
		})
	}
}
