package bootloader

import (
	"reflect"
	"testing"
)

// The u-boot ramdisk command set of a board (as base-uboot renders it).
var ubootRamdisk = []string{
	"setenv autoload no",
	"setenv initrd_high 0xffffffff",
	"setenv fdt_high 0xffffffff",
	"dhcp",
	"setenv serverip {SERVER_IP}",
	"tftp {KERNEL_ADDR} {KERNEL}",
	"tftp {RAMDISK_ADDR} {RAMDISK}",
	"tftp {TEE_ADDR} {TEE}",
	"setenv initrd_size ${filesize}",
	"tftp {DTB_ADDR} {DTB}",
	"setenv bootargs 'console=ttyO0,115200n8 root=/dev/ram0  ip=dhcp'",
	"{BOOTX}",
}

var armAddrs = map[string]Addresses{
	"bootz": {Kernel: "0x82000000", Ramdisk: "0x83000000", DTB: "0x88000000", Tee: "0x83000000", DTBO: "0x93c00000"},
	"bootm": {Kernel: "0x82000000", Ramdisk: "0x83000000", DTB: "0x88000000", Tee: "0x83000000", DTBO: "0x93c00000"},
	"booti": {Kernel: "0x80000000", Ramdisk: "0x82000000", DTB: "0x81000000", Tee: "0x83000000", DTBO: "0x93c00000"},
}

func TestSubstituteUBoot(t *testing.T) {
	head := []string{"setenv autoload no", "setenv initrd_high 0xffffffff", "setenv fdt_high 0xffffffff", "dhcp", "setenv serverip 10.0.0.1"}
	bootargs := "setenv bootargs 'console=ttyO0,115200n8 root=/dev/ram0  ip=dhcp'"
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name string
		in   Inputs
		want []string
	}{
		{"bootz with a u-boot ramdisk", Inputs{Method: UBoot, ServerIP: "10.0.0.1", Kernel: "7/tftp-deploy-x/kernel/zImage", Ramdisk: "7/tftp-deploy-x/ramdisk/ramdisk.cpio.gz.uboot", DTB: "7/tftp-deploy-x/dtb/am335x-boneblack.dtb", KernelType: "zimage", BootAddresses: armAddrs, RamdiskFormat: "u-boot"},
			cat(head, []string{"tftp 0x82000000 7/tftp-deploy-x/kernel/zImage", "tftp 0x83000000 7/tftp-deploy-x/ramdisk/ramdisk.cpio.gz.uboot", "setenv initrd_size ${filesize}", "tftp 0x88000000 7/tftp-deploy-x/dtb/am335x-boneblack.dtb", bootargs, "bootz 0x82000000 0x83000000 0x88000000"})},
		{"booti with a raw ramdisk", Inputs{Method: UBoot, ServerIP: "10.0.0.1", Kernel: "k/Image", Ramdisk: "r/initrd", DTB: "d/board.dtb", KernelType: "image", BootAddresses: armAddrs, RamdiskFormat: "raw"},
			cat(head, []string{"tftp 0x80000000 k/Image", "tftp 0x82000000 r/initrd", "setenv initrd_size ${filesize}", "tftp 0x81000000 d/board.dtb", bootargs, "booti 0x80000000 0x82000000:${initrd_size} 0x81000000"})},
		{"bootm of a uImage, no ramdisk", Inputs{Method: UBoot, ServerIP: "10.0.0.1", Kernel: "k/uImage", DTB: "d/b.dtb", KernelType: "uimage", BootAddresses: armAddrs, RamdiskFormat: "u-boot"},
			cat(head, []string{"tftp 0x82000000 k/uImage", "setenv initrd_size ${filesize}", "tftp 0x88000000 d/b.dtb", bootargs, "bootm 0x82000000 - 0x88000000"})},
		{"image without booti addresses falls back to bootm", Inputs{Method: UBoot, ServerIP: "10.0.0.1", Kernel: "k/Image", Ramdisk: "r/i", DTB: "d/b.dtb", KernelType: "image", BootAddresses: map[string]Addresses{"bootm": armAddrs["bootm"]}, RamdiskFormat: "u-boot"},
			cat(head, []string{"tftp 0x82000000 k/Image", "tftp 0x83000000 r/i", "setenv initrd_size ${filesize}", "tftp 0x88000000 d/b.dtb", bootargs, "bootm 0x82000000 0x83000000 0x88000000"})},
		{"a ramdisk neither u-boot nor raw is not passed to bootz", Inputs{Method: UBoot, ServerIP: "10.0.0.1", Kernel: "k/zImage", Ramdisk: "r/i", DTB: "d/b.dtb", KernelType: "zimage", BootAddresses: armAddrs, RamdiskFormat: "none"},
			cat(head, []string{"tftp 0x82000000 k/zImage", "tftp - r/i", "setenv initrd_size ${filesize}", "tftp 0x88000000 d/b.dtb", bootargs, "bootz 0x82000000 - 0x88000000"})},
		{"a tee replaces the kernel address in bootm", Inputs{Method: UBoot, ServerIP: "10.0.0.1", Kernel: "k/uImage", Ramdisk: "r/i", DTB: "d/b.dtb", Tee: "t/tee.bin", KernelType: "uimage", BootAddresses: armAddrs, RamdiskFormat: "u-boot"},
			cat(head, []string{"tftp 0x82000000 k/uImage", "tftp 0x83000000 r/i", "tftp 0x83000000 t/tee.bin", "setenv initrd_size ${filesize}", "tftp 0x88000000 d/b.dtb", bootargs, "bootm 0x83000000 0x83000000 0x88000000"})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			subs, err := Substitutions(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got := Substitute(ubootRamdisk, subs)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
			if left := Unresolved(got); len(left) != 0 {
				t.Errorf("unresolved placeholders %q", left)
			}
		})
	}
}

// The x86 U-Boot board: zboot.
func TestSubstituteZboot(t *testing.T) {
	set := []string{"setenv autoload no", "dhcp", "setenv serverip {SERVER_IP}", "tftp {KERNEL_ADDR} {KERNEL}",
		"tftp {RAMDISK_ADDR} {RAMDISK}", "setenv initrd_size ${filesize}", "setenv bootargs 'console=ttyS0,115200n8 root=/dev/ram0  ip=dhcp'", "{BOOTX}"}
	addrs := map[string]Addresses{"zboot": {Kernel: "0x1000000", Ramdisk: "0x4000000", DTB: "0x81000000"}}
	for _, kt := range []string{"bzimage", ""} { // no kernel type: the only address set is used
		subs, err := Substitutions(Inputs{Method: UBoot, ServerIP: "127.0.0.1", Kernel: "1/bzImage", Ramdisk: "1/initrd.cpio.gz", KernelType: kt, BootAddresses: addrs, RamdiskFormat: "raw"})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"setenv autoload no", "dhcp", "setenv serverip 127.0.0.1", "tftp 0x1000000 1/bzImage",
			"tftp 0x4000000 1/initrd.cpio.gz", "setenv initrd_size ${filesize}", "setenv bootargs 'console=ttyS0,115200n8 root=/dev/ram0  ip=dhcp'",
			"zboot 0x1000000 0 0x4000000 ${initrd_size}"}
		if got := Substitute(set, subs); !reflect.DeepEqual(got, want) {
			t.Errorf("kernel type %q: got\n%q\nwant\n%q", kt, got, want)
		}
	}
	subs, err := Substitutions(Inputs{Method: UBoot, ServerIP: "127.0.0.1", Kernel: "1/bzImage", KernelType: "bzimage", BootAddresses: addrs, RamdiskFormat: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	got := Substitute(set, subs)
	if last := got[len(got)-1]; last != "zboot 0x1000000" || len(got) != 7 {
		t.Errorf("without a ramdisk: %q", got)
	}
}

func TestSubstituteIPXEAndGrub(t *testing.T) {
	ipxe := []string{"dhcp net0", "set console console=ttyS0,115200n8 lava_mac={LAVA_MAC}", "set extraargs  ip=dhcp",
		"kernel tftp://{SERVER_IP}/{KERNEL} ${extraargs} ${console}", "initrd tftp://{SERVER_IP}/{RAMDISK}", "boot"}
	subs, err := Substitutions(Inputs{Method: IPXE, ServerIP: "10.0.2.2", Kernel: "3/tftp-deploy-a/kernel/bzImage", Ramdisk: "3/tftp-deploy-a/ramdisk/initrd.cpio.gz", LavaMac: "52:54:00:12:34:5a"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dhcp net0", "set console console=ttyS0,115200n8 lava_mac=52:54:00:12:34:5a", "set extraargs  ip=dhcp",
		"kernel tftp://10.0.2.2/3/tftp-deploy-a/kernel/bzImage ${extraargs} ${console}", "initrd tftp://10.0.2.2/3/tftp-deploy-a/ramdisk/initrd.cpio.gz", "boot"}
	if got := Substitute(ipxe, subs); !reflect.DeepEqual(got, want) {
		t.Errorf("ipxe: got\n%q\nwant\n%q", got, want)
	}
	// no ramdisk: the initrd line goes
	subs, _ = Substitutions(Inputs{Method: IPXE, ServerIP: "10.0.2.2", Kernel: "k", LavaMac: "m"})
	if got := Substitute(ipxe, subs); len(got) != 5 || got[4] != "boot" {
		t.Errorf("ipxe without a ramdisk: %q", got)
	}
	grub := []string{"net_bootp", "linux (tftp,{SERVER_IP})/{KERNEL} console=ttyS0,115200 root=/dev/nfs rw nfsroot={NFS_SERVER_IP}:{NFSROOTFS},tcp,hard ip=dhcp", "initrd (tftp,{SERVER_IP})/{RAMDISK}", "boot"}
	subs, _ = Substitutions(Inputs{Method: Grub, ServerIP: "192.168.0.2", Kernel: "k/vmlinuz", Ramdisk: "r/initrd", NFSRootfs: "/var/lib/basalt/9/extract-nfsrootfs-x"})
	want = []string{"net_bootp", "linux (tftp,192.168.0.2)/k/vmlinuz console=ttyS0,115200 root=/dev/nfs rw nfsroot=192.168.0.2:/var/lib/basalt/9/extract-nfsrootfs-x,tcp,hard ip=dhcp", "initrd (tftp,192.168.0.2)/r/initrd", "boot"}
	if got := Substitute(grub, subs); !reflect.DeepEqual(got, want) {
		t.Errorf("grub nfs: got\n%q\nwant\n%q", got, want)
	}
}

func TestBootCommand(t *testing.T) {
	tests := []struct {
		kernelType string
		addrs      map[string]Addresses
		want       string
		wantErr    bool
	}{
		{"uimage", armAddrs, "bootm", false},
		{"zimage", armAddrs, "bootz", false},
		{"image", armAddrs, "booti", false},
		{"zimage", map[string]Addresses{"bootm": {}}, "bootm", false},
		{"ZImage", armAddrs, "bootz", false},
		{"bzimage", map[string]Addresses{"zboot": {}}, "zboot", false},
		{"bzimage", armAddrs, "", true},
		{"", armAddrs, "", false},
		{"", map[string]Addresses{"booti": {}}, "booti", false},
		{"bootz", armAddrs, "", true},
		{"elf", armAddrs, "", true},
	}
	for _, tc := range tests {
		got, err := BootCommand(tc.kernelType, tc.addrs)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("BootCommand(%q) = %q, %v; want %q, error %v", tc.kernelType, got, err, tc.want, tc.wantErr)
		}
		if err != nil && KindOf(err) != Job {
			t.Errorf("BootCommand(%q) error kind %v, want Job", tc.kernelType, KindOf(err))
		}
	}
}

func TestSubstituteRules(t *testing.T) {
	subs := map[string]string{"{A}": "x", "{B}": "", "{C}": "{A}"}
	got := Substitute([]string{"{A}{A}", "keep {B} out", "plain", "${A} {Z}", "{C}"}, subs)
	want := []string{"xx", "plain", "$x {Z}", "{A}"} // {A} is replaced before {C} (sorted order)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if left := Unresolved([]string{"tftp {KERNEL_ADDR}{KERNEL}", "setenv x ${filesize} ${FOO}", "{kernel} {A1}"}); !reflect.DeepEqual(left, []string{"{KERNEL_ADDR}", "{KERNEL}", "{A1}"}) {
		t.Errorf("Unresolved = %q", left)
	}
}

func FuzzSubstitute(f *testing.F) {
	f.Add("tftp {KERNEL_ADDR} {KERNEL}", "{KERNEL}", "k/zImage")
	f.Add("{BOOTX}", "{BOOTX}", "")
	f.Add("${x}{A}{{B}}", "{B}", "{A}")
	f.Fuzz(func(t *testing.T, line, key, value string) {
		subs := map[string]string{key: value}
		out := Substitute([]string{line, line}, subs)
		if len(out) != 0 && len(out) != 2 {
			t.Fatalf("%d lines out of 2 identical lines", len(out))
		}
		_ = Unresolved(out)
		if key != "" && value == "" && len(out) != 0 && contains(line, key) {
			t.Fatalf("line %q using %q (no value) kept", line, key)
		}
		if key != "" && value != "" && len(out) == 2 && out[0] != line && !contains(line, key) {
			t.Fatalf("line %q changed without holding %q", line, key)
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestForJob(t *testing.T) {
	for _, tc := range []struct {
		method, param, want string
		final, err          bool
	}{
		{"u-boot", "", "u-boot", true, false},
		{"ipxe", "", "ipxe", true, false},
		{"bootloader", "u-boot", "u-boot", false, false},
		{"bootloader", "", "", false, true},
		{"", "", "", false, true},
	} {
		got, final, err := ForJob(tc.method, tc.param)
		if got != tc.want || final != tc.final || (err != nil) != tc.err {
			t.Errorf("ForJob(%q, %q) = %q, %v, %v", tc.method, tc.param, got, final, err)
		}
	}
}

// BenchmarkSubstitute measures preparing a U-Boot command set.
func BenchmarkSubstitute(b *testing.B) {
	in := Inputs{Method: UBoot, ServerIP: "10.0.0.1", Kernel: "7/tftp-deploy-x/kernel/zImage", Ramdisk: "7/r", DTB: "7/d",
		KernelType: "zimage", BootAddresses: armAddrs, RamdiskFormat: "u-boot"}
	b.ReportAllocs()
	for b.Loop() {
		subs, err := Substitutions(in)
		if err != nil {
			b.Fatal(err)
		}
		if out := Substitute(ubootRamdisk, subs); len(out) != 11 {
			b.Fatal(len(out))
		}
	}
}
