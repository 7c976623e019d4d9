package dispatcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// monitorTest is a test action's monitors: LAVA's lava-test-monitor. It
// sends nothing to the device. For each monitor in turn it waits for the
// start pattern on the console, then reads the console line by line,
// recording a test case in the suite "<index>_<name>" for every line the
// monitor's pattern matches, until a line matches the end pattern. Cases
// of the monitor's expected list that were not seen are recorded as fail;
// cases not in a non-empty expected list are forced to fail (LAVA's
// handle_expected and handle_unexpected).
//
// As in LAVA, the connection timeout bounds the wait for the start message
// (a Job error when it expires) and for each result or end message after
// it (a warning: that monitor stops, its expected cases not seen are
// reported as fail, and the next monitor starts). The action's timeout
// ends it all: the expected cases of the monitor running and of those not
// reached are still reported as fail.
type monitorTest struct {
	monitors []compiledMonitor
}

type compiledMonitor struct {
	def        jobdef.Monitor
	start, end *regexp.Regexp
	parser     *patternParser
	// startWhat and endWhat say what the waits are for (Expect).
	startWhat, endWhat string
}

// newMonitorTest compiles the monitors' start, end and result patterns
// (Python syntax, converted as newPatternParser does). A pattern that does
// not compile or lacks the test_case_id group and a result or measurement
// group is an error (the caller reports it as a Job error).
func newMonitorTest(ms []jobdef.Monitor) (Action, error) {
	if len(ms) == 0 {
		return nil, errors.New("no monitors")
	}
	t := &monitorTest{}
	for _, m := range ms {
		cm := compiledMonitor{def: m}
		var err error
		if cm.start, err = compilePython(m.Start); err != nil {
			return nil, fmt.Errorf("monitor %s: start: %w", m.Name, err)
		}
		if cm.end, err = compilePython(m.End); err != nil {
			return nil, fmt.Errorf("monitor %s: end: %w", m.Name, err)
		}
		if cm.parser, err = newPatternParser(m.Pattern, m.Fixupdict); err != nil {
			return nil, fmt.Errorf("monitor %s: %w", m.Name, err)
		}
		cm.parser.caseID = monitorCaseID
		cm.startWhat = "monitor " + m.Name + "'s start message " + quotePattern(m.Start)
		cm.endWhat = "a result or monitor " + m.Name + "'s end message " + quotePattern(m.End)
		t.monitors = append(t.monitors, cm)
	}
	return t, nil
}

// compilePython compiles a start or end pattern of a monitor, a regular
// expression in Python's syntax.
func compilePython(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, errors.New("the pattern is empty")
	}
	goRE, err := goPattern(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	re, err := regexp.Compile(goRE)
	if err != nil {
		return nil, fmt.Errorf("pattern %q is not a valid regular expression: %v", pattern, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

func (t *monitorTest) Name() string { return "lava-test-monitor" }

func (t *monitorTest) Run(ctx context.Context, env *Env) error {
	if env.Conn == nil {
		return InfrastructureError("lava-test-monitor: no console: the device is not open")
	}
	ct, from := env.ConnectionTimeout()
	env.Info("%s: connection timeout %s from %s: each monitor's start message, and each result or end message after it, must come within it", t.Name(), clock(ct), from)
	// Suites are numbered up front so that monitors never reached still
	// report their expected cases under their own suite.
	runs := make([]*monitorRun, len(t.monitors))
	for i := range t.monitors {
		m := &t.monitors[i]
		runs[i] = &monitorRun{m: m, suite: fmt.Sprintf("%d_%s", env.Session.NextTestIndex(), m.def.Name), seen: map[string]string{}}
	}
	for i, r := range runs {
		if err := r.run(ctx, env, &connectionTimeout{action: t.Name(), timeout: ct, from: from}); err != nil {
			if ctx.Err() != nil {
				env.Warning("%s: lava test monitoring stopped: %v: %v", r.suite, context.Cause(ctx), err)
			}
			for _, rest := range runs[i:] {
				rest.reportMissing(env)
			}
			return err
		}
		r.reportMissing(env)
		r.summary(env)
	}
	return nil
}

// monitorRun is one monitor being watched.
type monitorRun struct {
	m     *compiledMonitor
	suite string
	seen  map[string]string // case → result recorded
}

// run waits for the start pattern, then records results until a line
// matches the end pattern. Each wait lasts the connection timeout ct at
// most: for the start message, its end is a Job error; after it, a
// warning that stops this monitor (LAVA's "lava test monitoring has timed
// out"), and run returns nil.
func (r *monitorRun) run(ctx context.Context, env *Env, ct *connectionTimeout) error {
	env.Info("%s: waiting for the start message %q", r.suite, r.m.def.Start)
	sctx, cancel := context.WithTimeoutCause(ctx, ct.timeout, ct)
	_, err := env.Conn.Expect(sctx, r.m.startWhat, r.m.start)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			return connectionError(err)
		}
		return err
	}
	env.Info("%s: ok: start string found, lava test monitoring started", r.suite)
	for {
		// The connection timeout runs from one result (or the start) to
		// the next, as LAVA's expect of the result and end patterns.
		lctx, cancel := context.WithTimeoutCause(ctx, ct.timeout, ct)
		ended, err := r.untilResult(lctx, env)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && isConnectionTimeout(err):
			env.Warning("%s: err: lava test monitoring has timed out: %v", r.suite, connectionError(err))
			return nil
		case err != nil:
			return err
		case ended:
			return nil
		}
	}
}

// untilResult reads console lines until one reports a result or the end
// message comes (ended), or ctx ends.
func (r *monitorRun) untilResult(ctx context.Context, env *Env) (ended bool, err error) {
	for {
		line, end, err := env.Conn.nextMonitorLine(ctx, r.m.endWhat, r.m.end)
		if err != nil {
			return false, err
		}
		if end {
			// The text before the end match may still hold a result.
			loc := r.m.end.FindStringIndex(line)
			r.line(env, line[:loc[0]])
			env.Info("%s: ok: end string found, lava test monitoring stopped", r.suite)
			return true, nil
		}
		if r.line(env, line) {
			return false, nil
		}
	}
}

// line records the result a console line reports, if any, and says
// whether it did.
func (r *monitorRun) line(env *Env, line string) bool {
	res, ok, err := r.m.parser.parse(line)
	if err != nil {
		env.Warning("%s: %v", r.suite, err)
	}
	if !ok {
		return false
	}
	res.Definition = r.suite
	if exp := r.m.def.Expected; len(exp) > 0 && !slices.Contains(exp, res.Case) {
		env.Warning("%s: %q is not in the expected test case list", r.suite, res.Case)
		if res.Result != ResultFail {
			env.Warning("%s: forcing the unexpected %q result %q to fail", r.suite, res.Case, res.Result)
			res.Result = ResultFail
		}
	}
	r.seen[res.Case] = res.Result
	env.Log.Result(res)
	return true
}

// reportMissing records the expected cases not seen as fail (once: they
// are then seen).
func (r *monitorRun) reportMissing(env *Env) {
	var missing []string
	for _, e := range r.m.def.Expected {
		if _, ok := r.seen[e]; !ok && !slices.Contains(missing, e) {
			missing = append(missing, e)
		}
	}
	if len(missing) == 0 {
		return
	}
	slices.Sort(missing)
	env.Warning("%s: reporting missing expected test cases as fail: %s", r.suite, strings.Join(missing, ", "))
	for _, e := range missing {
		r.seen[e] = ResultFail
		env.Log.Result(workerproto.ResultMsg{Definition: r.suite, Case: e, Result: ResultFail})
	}
}

// summary logs the monitor's cases and results as one debug record.
func (r *monitorRun) summary(env *Env) {
	if len(r.seen) == 0 {
		env.Debug("%s: no test cases", r.suite)
		return
	}
	cases := make([]string, 0, len(r.seen))
	for c := range r.seen {
		cases = append(cases, c)
	}
	slices.Sort(cases)
	var b strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&b, " %s=%s", c, r.seen[c])
	}
	env.Debug("%s test report:%s", r.suite, b.String())
}

// nextMonitorLine waits for the next line of console output that Expect
// has not consumed and consumes it, newline included; the line is
// returned without its line ending (LF or CRLF). If end matches the line
// (or the partial line at the end of the output, which has no newline
// yet), only the text up to the end of the first match is consumed and
// returned, with ended true, so that what follows stays for the next
// Expect. It fails like Expect: with the line hook's error, when the
// console ended, or with the context's cause.
//
// It reads Conn's unconsumed output (the same window Expect searches)
// rather than the line hook, so that output printed before the monitor
// started waiting is not lost.
//
// what says what the caller waits for, as Expect's.
func (c *Conn) nextMonitorLine(ctx context.Context, what string, end *regexp.Regexp) (line string, ended bool, err error) {
	start := time.Now()
	for {
		c.mu.Lock()
		if c.hookErr != nil {
			err := c.hookErr
			c.mu.Unlock()
			return "", false, err
		}
		nl := bytes.IndexByte(c.window, '\n')
		text := c.window
		if nl >= 0 {
			text = c.window[:nl]
		}
		if loc := end.FindIndex(text); loc != nil {
			line = string(text[:loc[1]])
			c.window = append(c.window[:0], c.window[loc[1]:]...)
			c.mu.Unlock()
			return line, true, nil
		}
		if nl >= 0 {
			line = string(bytes.TrimRight(text, "\r"))
			c.window = append(c.window[:0], c.window[nl+1:]...)
			c.mu.Unlock()
			return line, false, nil
		}
		if c.ended && len(c.window) > 0 {
			// The last line, which never got its newline.
			line = string(bytes.TrimRight(c.window, "\r"))
			c.window = c.window[:0]
			c.mu.Unlock()
			return line, false, nil
		}
		if c.ended {
			err := c.closedError(what)
			c.mu.Unlock()
			return "", false, err
		}
		ch := c.sig
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", false, c.waitError(ctx, what, start)
		case <-ch:
		}
	}
}
