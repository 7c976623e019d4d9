package board

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// renderJinja renders dir/name with Debian's python3-jinja2, templates
// from testdata/templates.
func renderJinja(t *testing.T, dir, name string) string {
	t.Helper()
	tmpl, err := filepath.Abs("testdata/templates")
	if err != nil {
		t.Fatal(err)
	}
	const script = `import sys, jinja2
env = jinja2.Environment(loader=jinja2.FileSystemLoader([sys.argv[1], sys.argv[2]]), undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
sys.stdout.write(env.get_template(sys.argv[3]).render())`
	out, err := exec.Command("/usr/bin/python3", "-c", script, dir, tmpl, name).CombinedOutput()
	if err != nil {
		t.Fatalf("render %s with python3-jinja2 (install Debian's python3-jinja2): %v\n%s", name, err, out)
	}
	return string(out)
}

// TestDictionary renders each firmware's device dictionary with real
// Jinja2 over a template printing its variables, from a board directory
// whose name needs quoting, and runs the rendered power commands.
func TestDictionary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fw     Firmware
		golden string
	}{
		{UBoot, "testdata/uboot.rendered"},
		{IPXE, "testdata/ipxe.rendered"},
	} {
		t.Run(tc.fw.String(), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "it's a \"board\"")
			b := Start(t, Options{Firmware: tc.fw, Dir: dir})
			dict := b.Dictionary("probe.jinja2")
			if !strings.HasPrefix(dict, "{# Test board board (internal/testutil/board): QEMU with "+tc.fw.String()) ||
				!strings.Contains(dict, "\n{% extends 'probe.jinja2' %}\n") {
				t.Errorf("dictionary head:\n%s", dict)
			}
			ddir := t.TempDir()
			if err := os.WriteFile(filepath.Join(ddir, "board.jinja2"), []byte(dict), 0o644); err != nil {
				t.Fatal(err)
			}
			got := strings.TrimLeft(renderJinja(t, ddir, "board.jinja2"), "\n")
			golden, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(string(golden), "PORT", strconv.Itoa(b.TelnetPort()))
			for _, s := range []string{powerOn, powerOff, hardReset} {
				want = strings.ReplaceAll(want, "'DIR/"+s+"'", shellQuote(filepath.Join(dir, s)))
			}
			if got != want {
				t.Fatalf("rendered:\n%s\nwant:\n%s", got, want)
			}
			if tc.fw != UBoot {
				return
			}
			vars := map[string]string{}
			for _, l := range strings.Split(got, "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					vars[k] = v
				}
			}
			mustSh(t, vars["power_on_command"])
			if !b.On() {
				t.Fatal("rendered power_on_command did not power on")
			}
			mustSh(t, vars["power_off_command"])
			if b.On() {
				t.Fatal("rendered power_off_command did not power off")
			}
		})
	}
}

// TestNewRejects checks that bad options give errors, not a board.
func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"name", Options{Name: "a b"}, `board name "a b": use 1-64 letters, digits, '-' or '_'`},
		{"memory", Options{MemoryMB: 8}, "board memory 8 MiB: want 64-4096"},
		{"mac", Options{MAC: "52:54"}, "board MAC: address 52:54: invalid MAC address"},
		{"firmware", Options{Firmware: 7}, "unknown firmware 7"},
		{"rom", Options{ROM: "/nonexistent/u-boot.rom"}, "u-boot firmware (install Debian's u-boot-qemu): stat /nonexistent/u-boot.rom: no such file or directory"},
		{"qemu", Options{QEMU: "/nonexistent/qemu"}, `QEMU (install Debian's qemu-system-x86): exec: "/nonexistent/qemu": stat /nonexistent/qemu: no such file or directory`},
		{"comma", Options{Dir: "/tmp/a,b"}, `board directory "/tmp/a,b": QEMU options cannot hold a ','`},
		{"long", Options{Dir: "TMP/" + strings.Repeat("d", 100)}, "serial socket TMP/" + strings.Repeat("d", 100) + "/serial.sock: longer than a unix socket path may be (107 bytes): use a shorter board directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			tc.o.Dir = strings.Replace(tc.o.Dir, "TMP", tmp, 1)
			tc.want = strings.Replace(tc.want, "TMP", tmp, 1)
			b, err := New(tc.o)
			if err == nil {
				b.Close()
				t.Fatal("no error")
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}
