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
	c := Config{Binary: "qemu-system-x86_64", MemoryMiB: 256, CPUs: 2, KVM: KVMOff, MAC: "52:54:00:12:34:58", ExtraOptions: []string{"-global isa-debugcon.iobase=0x402 -no-reboot"}}
	got := c.commandLine(false, Boot{Args: []string{"-kernel", "/k"}})
	want := []string{"qemu-system-x86_64", "-display", "none", "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console", "-monitor", "none",
		"-net", "nic,model=virtio,macaddr=52:54:00:12:34:58", "-net", "user", "-m", "256", "-smp", "2",
		"-global", "isa-debugcon.iobase=0x402", "-no-reboot", "-kernel", "/k"}
	if !slices.Equal(got, want) {
		t.Errorf("commandLine:\n got %q\nwant %q", got, want)
	}
	kvm := c.commandLine(true, Boot{})
	if !slices.Contains(kvm, "-enable-kvm") || slices.Contains(got, "-enable-kvm") {
		t.Errorf("KVM flag: with %q, without %q", kvm, got)
	}
	c.CPU = "qemu64"
	if cl := c.commandLine(false, Boot{}); !slices.Contains(cl, "qemu64") {
		t.Errorf("-cpu missing: %q", cl)
	}
	c.NoNetwork = true
	if cl := c.commandLine(false, Boot{}); slices.Contains(cl, "-net") {
		t.Errorf("-net with no_network: %q", cl)
	}
}
