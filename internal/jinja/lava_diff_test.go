package jinja

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/lavadeb"
)

// lavaTemplates returns the device-types directory of Debian's lava-server
// (with lava-common), downloaded and unpacked by lavadeb.
func lavaTemplates(t *testing.T) string {
	t.Helper()
	dt := filepath.Join(lavadeb.Extract(t, "lava-server", "lava-common"), "usr", "share", "lava-server", "device-types")
	if _, err := os.Stat(filepath.Join(dt, "base.jinja2")); err != nil {
		t.Fatalf("the Debian package lava-server %s has no device types at %s", lavadeb.Version, dt)
	}
	return dt
}

// valueKinds are the values generated dictionaries give variables.
var valueKinds = []func(name string) any{
	func(name string) any { return "v-" + name },
	func(string) any { return int64(7) },
	func(string) any { return NewList("a", "b c") },
	func(string) any { d := NewDict(); _ = d.Set("k", "v"); _ = d.Set("n", int64(2)); return d },
	func(string) any { return true },
	func(string) any { return false },
	func(string) any { return nil },
	func(string) any { return "it's: \"x\" #1" },
	func(string) any { return 2.5 },
}

type diffCase struct {
	id, tmpl, kind string
	env            *Env     // nil: the LAVA device-types environment
	dirs           []string // the loader path of env
	ctx            *Dict
	goOut          string
	goErr          error
}

func TestLAVADifferential(t *testing.T) {
	dt := lavaTemplates(t)
	entries, err := os.ReadDir(dt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".jinja2") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) < 100 {
		t.Fatalf("only %d device types in %s", len(names), dt)
	}
	var cases []*diffCase
	add := func(c *diffCase) { c.id = fmt.Sprintf("%d", len(cases)); cases = append(cases, c) }
	devices := t.TempDir()
	dirs := []string{devices, dt}
	env := NewLAVA(DirLoader(dirs...))
	ctxA := NewDict()
	_ = ctxA.Set("arch", "amd64")
	ctxB := NewDict()
	for _, kv := range [][2]any{{"arch", "arm64"}, {"memory", int64(2048)}, {"extra_kernel_args", "quiet"}, {"guestfs_interface", "virtio"}} {
		_ = ctxB.Set(kv[0], kv[1])
	}
	totalVars := 0
	const group = 40
	// gen adds the cases of the templates names, found through the loader
	// path dirs (devices, where it writes the dictionaries, first): each
	// template alone, a dictionary that sets nothing (with three
	// contexts), one that sets every variable the template reads, the
	// variables in groups as context (strings, then every kind of value),
	// and with perVar a dictionary per variable setting only it.
	gen := func(names []string, devices string, dirs []string, env *Env, prefix string, perVar bool) {
		writeDict := func(name, src string) string {
			if err := os.WriteFile(filepath.Join(devices, name), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			return name
		}
		c := func(tmpl, kind string, ctx *Dict) *diffCase {
			return &diffCase{tmpl: tmpl, kind: prefix + kind, ctx: ctx, env: env, dirs: dirs}
		}
		for _, name := range names {
			add(c(name, "standalone", NewDict()))
			vars, err := env.Undeclared(name)
			if err != nil {
				// the template itself fails to parse: the standalone case covers it
				continue
			}
			totalVars += len(vars)
			unset := writeDict("dict-unset-"+name, fmt.Sprintf("{%% extends '%s' %%}\n", name))
			add(c(unset, "dict-unset", NewDict()))
			add(c(unset, "dict-unset ctx-amd64", ctxA))
			add(c(unset, "dict-unset ctx-arm64", ctxB))
			// a device dictionary that sets every variable to a string
			var b strings.Builder
			fmt.Fprintf(&b, "{%% extends '%s' %%}\n", name)
			for _, v := range vars {
				fmt.Fprintf(&b, "{%% set %s = 'v-%s' %%}\n", v, v)
			}
			add(c(writeDict("dict-strings-"+name, b.String()), "dict-set-strings", NewDict()))
			if perVar {
				// each variable set alone, to a value of its own kind in turn
				for i, v := range vars {
					lit := []string{"'v-" + v + "'", "1024", "True", "False", "['a', 'b']", "{'k': 'v'}", "none"}[i%7]
					add(c(writeDict(fmt.Sprintf("dict-var-%d-%s", i, name), fmt.Sprintf("{%% extends '%s' %%}\n{%% set %s = %s %%}\n", name, v, lit)), "dict-set-one", NewDict()))
				}
			}
			// each group of variables in the context: once as strings, once
			// with every kind of value
			for g := 0; g < len(vars); g += group {
				strs, mixed := NewDict(), NewDict()
				for i, v := range vars[g:min(g+group, len(vars))] {
					_ = strs.Set(v, "s-"+v)
					_ = mixed.Set(v, valueKinds[(i+g/group)%len(valueKinds)](v))
				}
				add(c(unset, fmt.Sprintf("ctx-strings-%d", g/group), strs))
				add(c(unset, fmt.Sprintf("ctx-mixed-%d", g/group), mixed))
			}
		}
	}
	gen(names, devices, dirs, env, "", false)
	// Basalt's own device-type templates, the same way and with every
	// variable set alone
	basaltDir, _ := filepath.Abs(filepath.Join("..", "devicetypes", "templates"))
	var basaltNames []string
	if ents, err := os.ReadDir(basaltDir); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".jinja2") {
				basaltNames = append(basaltNames, e.Name())
			}
		}
	}
	if len(basaltNames) == 0 {
		t.Fatalf("no templates in %s: Basalt's shipped templates must be in the comparison", basaltDir)
	}
	basaltDevices := t.TempDir()
	basaltDirs := []string{basaltDevices, basaltDir}
	lavaCases := len(cases)
	gen(basaltNames, basaltDevices, basaltDirs, NewLAVA(DirLoader(basaltDirs...)), "basalt ", true)
	start := time.Now()
	// Go renders
	for _, c := range cases {
		ctx := map[string]any{}
		for i, k := range c.ctx.keys {
			ctx[k.(string)] = c.ctx.vals[i]
		}
		e := env
		if c.env != nil {
			e = c.env
		}
		c.goOut, c.goErr = e.Render(c.tmpl, ctx)
	}
	jobs := make([]oracleJob, len(cases))
	for i, c := range cases {
		d := dirs
		if c.dirs != nil {
			d = c.dirs
		}
		j := oracleJob{ID: c.id, Dirs: d, Context: []byte(jsonOf(c.ctx)), WantYAML: true}
		tn := c.tmpl
		j.Template = &tn
		if c.goErr == nil {
			out := c.goOut
			j.GoOut = &out
		}
		jobs[i] = j
	}
	t.Logf("go rendered %d cases in %v", len(cases), time.Since(start))
	start = time.Now()
	res := runOracle(t, jobs)
	t.Logf("oracle took %v", time.Since(start))
	var identicalYAML, byteIdentical, bothErr int
	var bIdentical, bBothErr int // Basalt's templates alone
	var diffs []string
	for _, c := range cases {
		basalt := strings.HasPrefix(c.kind, "basalt ")
		r, ok := res[c.id]
		if !ok {
			t.Fatalf("oracle lost case %s", c.id)
		}
		where := c.tmpl + " [" + c.kind + "]"
		switch {
		case !r.OK && c.goErr != nil:
			bothErr++
			if basalt {
				bBothErr++
			}
		case !r.OK:
			diffs = append(diffs, fmt.Sprintf("%s: python fails (%s), go renders", where, r.Err))
		case c.goErr != nil:
			diffs = append(diffs, fmt.Sprintf("%s: go fails (%v), python renders", where, c.goErr))
		default:
			if r.Out == c.goOut {
				byteIdentical++
			}
			if r.YAML != nil && r.GoYAML != nil && *r.YAML == *r.GoYAML {
				identicalYAML++
				if basalt {
					bIdentical++
				}
			} else {
				diffs = append(diffs, fmt.Sprintf("%s: YAML differs, first difference %s", where, firstDiff(r.Out, c.goOut)))
			}
		}
	}
	t.Logf("basalt templates %d: renders %d, identical YAML %d, both-error %d", len(basaltNames), len(cases)-lavaCases, bIdentical, bBothErr)
	t.Logf("templates %d, variables %d, renders %d, identical YAML %d, byte-identical %d, both-error %d, mismatches %d",
		len(names), totalVars, len(cases), identicalYAML, byteIdentical, bothErr, len(diffs))
	if len(diffs) > 0 {
		n := min(len(diffs), 15)
		t.Errorf("%d of %d renders differ from Python Jinja2; first %d:\n%s", len(diffs), len(cases), n, strings.Join(diffs[:n], "\n"))
	}
}
