package qemu

import (
	"slices"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "", want: nil},
		{in: "  -m 512 ", want: []string{"-m", "512"}},
		{in: `-kernel {kernel} -append "console=ttyS0,115200 root=/dev/ram0 debug"`, want: []string{"-kernel", "{kernel}", "-append", "console=ttyS0,115200 root=/dev/ram0 debug"}},
		{in: `-append 'a "b" c'`, want: []string{"-append", `a "b" c`}},
		{in: `a\ b "c\"d" 'e'f`, want: []string{"a b", `c"d`, "ef"}},
		{in: `""`, want: []string{""}},
		{in: `"open`, err: true},
		{in: `'open`, err: true},
		{in: `trailing\`, err: true},
	}
	for _, c := range cases {
		got, err := SplitArgs(c.in)
		if (err != nil) != c.err {
			t.Errorf("SplitArgs(%q) error = %v, want error %v", c.in, err, c.err)
			continue
		}
		if !c.err && !slices.Equal(got, c.want) {
			t.Errorf("SplitArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{`-append "a b"`, `'x' "y\"" z\ w`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := SplitArgs(s)
		if err != nil {
			return
		}
		// Quoting every argument and splitting again gives them back.
		var joined string
		for i, a := range args {
			if i > 0 {
				joined += " "
			}
			joined += Quote(a)
		}
		again, err := SplitArgs(joined)
		if err != nil || !slices.Equal(again, args) {
			t.Fatalf("round trip of %q: %q -> %q -> %q (%v)", s, args, joined, again, err)
		}
	})
}

func TestCommandLine(t *testing.T) {
	c := Config{Binary: "qemu-system-x86_64", KVM: KVMAuto, Options: []string{"-cpu", "host", "-enable-kvm", "-nographic",
		"-net", "nic,model=virtio,macaddr=52:54:00:12:34:58", "-net", "user", "-m", "256", "-monitor", "none", "-smp", "2", "-no-reboot"}}
	console := []string{"qemu-system-x86_64", "-display", "none", "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console"}
	rest := []string{"-net", "nic,model=virtio,macaddr=52:54:00:12:34:58", "-net", "user", "-m", "256", "-monitor", "none", "-smp", "2", "-no-reboot"}
	tests := []struct {
		name string
		kvm  bool
		want []string
	}{
		{"without KVM: the KVM options go", false, append(append(slices.Clone(console), rest...), "-kernel", "/k")},
		{"with KVM", true, append(append(append(slices.Clone(console), "-cpu", "host", "-enable-kvm"), rest...), "-kernel", "/k")},
	}
	for _, tt := range tests {
		got := c.commandLine(tt.kvm, Boot{Args: []string{"-kernel", "/k"}})
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
