package devicetypes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fact is one rendered value, at a slash-separated key path.
type fact struct {
	path string
	want any
}

// checkFacts renders the dictionary testdata/<dict> with ctx and compares
// each fact (values compared after a JSON round trip, so 3 == 3.0).
func checkFacts(t *testing.T, dict string, ctx map[string]any, facts []fact) map[string]any {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", dict))
	if err != nil {
		t.Fatal(err)
	}
	a := render(t, []renderRequest{{
		Name: dict, Dirs: []string{templatesDir(t)},
		Sources: map[string]string{dict: string(src)}, Context: ctx,
	}})[0]
	if a.Error != "" {
		t.Fatalf("%s: %s", dict, a.Error)
	}
	for _, f := range facts {
		got, ok := lookup(a.Config, f.path)
		if !ok {
			t.Errorf("%s: no %s", dict, f.path)
			continue
		}
		wantJSON, _ := json.Marshal(f.want)
		var want any
		_ = json.Unmarshal(wantJSON, &want)
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			t.Errorf("%s: %s = %s, want %s", dict, f.path, g, wantJSON)
		}
	}
	return a.Config
}

// TestBeagleboneBlackFacts checks a BeagleBone Black dictionary against the
// values LAVA's beaglebone-black/base-uboot/base templates give it (read
// from LAVA's templates; the expected values are written here by hand).
func TestBeagleboneBlackFacts(t *testing.T) {
	uboot := "actions/boot/methods/u-boot/"
	common := []string{
		"setenv autoload no", "setenv initrd_high 0xffffffff", "setenv fdt_high 0xffffffff",
		"dhcp", "setenv serverip {SERVER_IP}", "tftp {KERNEL_ADDR} {KERNEL}",
		"tftp {RAMDISK_ADDR} {RAMDISK}", "tftp {TEE_ADDR} {TEE}", "setenv initrd_size ${filesize}",
		"tftp {DTB_ADDR} {DTB}",
	}
	with := func(tail ...string) []string { return append(append([]string(nil), common...), tail...) }
	checkFacts(t, "bbb-01.jinja2", map[string]any{}, []fact{
		{"commands/connect", "telnet localhost 7003"},
		{"commands/hard_reset", "/usr/bin/pduclient --daemon localhost --hostname pdu05 --command reboot --port 03"},
		{"commands/power_on", "/usr/bin/pduclient --daemon localhost --hostname pdu05 --command on --port 03"},
		{"commands/power_off", "/usr/bin/pduclient --daemon localhost --hostname pdu05 --command off --port 03"},
		{"character_delays/boot", 10},
		{"parameters/bootz", map[string]any{"kernel": "0x82000000", "ramdisk": "0x83000000", "dtb": "0x88000000", "tee": "0x83000000", "dtbo": "0x93c00000"}},
		{"parameters/zimage/kernel", "0x82000000"},
		{"parameters/bootm/dtb", "0x88000000"},
		{"parameters/uimage/ramdisk", "0x83000000"},
		{"parameters/dtb_base_resize", 1048576},
		{"parameters/media/usb/SanDisk_Ultra", map[string]any{"uuid": "usb-SanDisk_Ultra_20060775320F43006019-0:0", "device_id": "0"}},
		{"actions/deploy/parameters", map[string]any{"add_header": "u-boot", "mkimage_arch": "arm", "append_dtb": false, "use_xip": false}},
		{uboot + "parameters", map[string]any{"bootloader_prompt": "=>", "interrupt_prompt": "Hit any key to stop autoboot", "interrupt_char": "", "needs_interrupt": true}},
		{uboot + "ramdisk/commands", with("setenv bootargs 'console=ttyO0,115200n8 root=/dev/ram0 rootwait ip=dhcp'", "{BOOTX}")},
		{uboot + "nfs/commands", with("setenv bootargs 'console=ttyO0,115200n8 root=/dev/nfs rw nfsroot={NFS_SERVER_IP}:{NFSROOTFS},tcp,hard rootwait ip=dhcp'", "{BOOTX}")},
		{uboot + "nbd/commands", with("setenv bootargs 'console=ttyO0,115200n8 rw nbd.server={NBDSERVERIP} nbd.port={NBDSERVERPORT} root=/dev/ram0 ramdisk_size=16384 rootdelay=7  rootwait ip=dhcp verbose earlyprintk systemd.log_color=false ${extraargs} rw'", "{BOOTX}")},
		{uboot + "usb/commands", []string{"usb start", "setenv autoload no", "load usb 0:{ROOT_PART} {KERNEL_ADDR} {KERNEL}", "load usb 0:{ROOT_PART} {RAMDISK_ADDR} {RAMDISK}", "setenv initrd_size ${filesize}", "load usb 0:{ROOT_PART} {DTB_ADDR} {DTB}", "console=ttyO0,115200n8 root={ROOT} rootwait ip=dhcp", "{BOOTX}"}},
		{uboot + "sata/commands", []string{"scsi scan", "setenv autoload no", "load scsi {ROOT_PART} {KERNEL_ADDR} {KERNEL}", "load scsi {ROOT_PART} {RAMDISK_ADDR} {RAMDISK}; setenv initrd_size ${filesize}", "load scsi {ROOT_PART} {DTB_ADDR} {DTB}", "setenv bootargs 'console=ttyO0,115200n8 root={ROOT} rootwait ip=dhcp'", "{BOOTX}"}},
		{uboot + "ums/commands", []string{"ums 0 mmc 0"}},
		{"actions/boot/methods/grub/parameters", map[string]any{"bootloader_prompt": "grub>", "needs_interrupt": true}},
		{"constants/u-boot/interrupt-prompt", "Hit any key to stop autoboot"},
		{"constants/u-boot/interrupt-character", " "},
		{"constants/u-boot/interrupt-newline", true},
		{"constants/u-boot/interrupt_ctrl_list", []string{}},
		{"constants/u-boot/final-message", "Starting kernel"},
		{"constants/kernel-start-message", "Linux version [0-9]"},
		{"constants/default-shell-prompt", "lava-test: # "},
		{"constants/shutdown-message", "The system is going down for reboot NOW"},
		{"constants/failure_retry", 1},
		{"constants/boot_retry", nil},
		{"constants/spawn_maxread", "4092"},
		{"timeouts/actions/bootloader-commands", map[string]any{"minutes": 3}},
		{"timeouts/actions/u-boot-interrupt", map[string]any{"seconds": 30}},
		{"timeouts/connections/bootloader-commands", map[string]any{"seconds": 30}},
		{"timeouts/connections/lava-test-shell", map[string]any{"seconds": 10}},
	})
}

// TestQemuFacts checks the rendered structure LAVA gives a qemu device
// with the job context {arch: amd64} (docs: lava.md 5.3).
func TestQemuFacts(t *testing.T) {
	options := []string{"-cpu host", "-enable-kvm", "-nographic", "-net nic,model=virtio,macaddr=52:54:00:12:34:59 -net user", "-m 1024", "-monitor none"}
	cfg := checkFacts(t, "qemu01.jinja2", map[string]any{"arch": "amd64"}, []fact{
		{"actions/boot/methods/qemu/parameters/command", "qemu-system-x86_64"},
		{"actions/boot/methods/qemu/parameters/boot_options", map[string]any{"root": "/dev/sda1", "console": "ttyS0,115200", "boot_order": "c"}},
		{"actions/boot/methods/qemu/parameters/options", options},
		{"actions/boot/methods/qemu-nfs/parameters/options", options},
		{"actions/boot/methods/qemu-nfs/parameters/append", map[string]any{"console": "ttyAMA0", "root": "/dev/nfs", "nfsrootargs": "nfsroot={NFS_SERVER_IP}:{NFSROOTFS},tcp,hard", "ipargs": "ip=dhcp"}},
		{"actions/boot/methods/minimal", nil},
		{"actions/boot/connections", map[string]any{"serial": nil, "ssh": nil}},
		{"actions/deploy/methods/image/parameters/guest", map[string]any{"size": 512, "interface": "ide", "driveid": "lavatest"}},
		{"actions/deploy/methods/nfs", nil},
		{"commands/users/touch", map[string]any{"do": "touch /tmp/a", "undo": "rm /tmp/a"}},
		{"commands/users/sleep_short", map[string]any{"do": "sleep 1"}},
		{"parameters", map[string]any{"pass": nil}},
		{"timeouts/actions/boot-qemu-image", map[string]any{"minutes": 2}},
	})
	if archs, _ := lookup(cfg, "available_architectures"); len(archs.([]any)) != 34 {
		t.Errorf("available_architectures has %d entries, want 34", len(archs.([]any)))
	}
	checkFacts(t, "qemu01.jinja2", map[string]any{"arch": "arm64"}, []fact{
		{"actions/boot/methods/qemu/parameters/command", "qemu-system-aarch64"},
		{"actions/boot/methods/qemu/parameters/boot_options", map[string]any{"root": "/dev/vda2 rw rootwait", "console": "ttyAMA0 115200", "ip": "dhcp", "mem": "1024M"}},
		{"actions/boot/methods/qemu/parameters/options", []string{"-cpu cortex-a57", "-machine virt", "-nographic", "-net nic,model=virtio,macaddr=52:54:00:12:34:59 -net user", "-m 1024", "-monitor none"}},
		{"actions/deploy/methods/image/parameters/guest/interface", "virtio"},
	})
}

// TestQemuUbootX86Facts checks Basalt's U-Boot test board type.
func TestQemuUbootX86Facts(t *testing.T) {
	uboot := "actions/boot/methods/u-boot/"
	checkFacts(t, "uboot-x86-01.jinja2", map[string]any{}, []fact{
		{"commands/connect", "telnet 127.0.0.1 5555"},
		{"parameters/zboot", map[string]any{"kernel": "0x1000000", "ramdisk": "0x4000000", "dtb": "0x81000000", "tee": "0x83000000", "dtbo": "0x93c00000"}},
		{"parameters/bzimage/kernel", "0x1000000"},
		{"actions/deploy/parameters", map[string]any{"add_header": "raw", "mkimage_arch": "x86", "append_dtb": false, "use_xip": false}},
		{uboot + "parameters", map[string]any{"bootloader_prompt": "=>", "interrupt_prompt": "Hit any key to stop autoboot", "interrupt_char": "", "needs_interrupt": true}},
		{uboot + "ramdisk/commands", []string{
			"setenv autoload no", "dhcp", "setenv serverip {SERVER_IP}", "tftp {KERNEL_ADDR} {KERNEL}",
			"tftp {RAMDISK_ADDR} {RAMDISK}", "setenv initrd_size ${filesize}",
			"setenv bootargs 'console=ttyS0,115200n8 root=/dev/ram0  ip=dhcp'", "{BOOTX}",
		}},
	})
}

// TestQemuIpxeX86Facts checks Basalt's iPXE test board type (the ipxe
// method as LAVA's x86 type has it).
func TestQemuIpxeX86Facts(t *testing.T) {
	ipxe := "actions/boot/methods/ipxe/"
	checkFacts(t, "ipxe-01.jinja2", map[string]any{}, []fact{
		{"character_delays", map[string]any{"boot": 50}},
		{ipxe + "parameters", map[string]any{"bootloader_prompt": "iPXE>", "use_bootscript": false, "lava_mac": "52:54:00:12:34:5a"}},
		{ipxe + "ramdisk/commands", []string{
			"dhcp net0", "set console console=ttyS0,115200n8 lava_mac={LAVA_MAC}", "set extraargs  ip=dhcp",
			"kernel tftp://{SERVER_IP}/{KERNEL} ${extraargs} ${console}", "initrd tftp://{SERVER_IP}/{RAMDISK}", "boot",
		}},
		{ipxe + "nfs/commands", []string{
			"dhcp net0", "set console console=ttyS0,115200n8 lava_mac={LAVA_MAC}",
			"set extraargs root=/dev/nfs rw nfsroot={NFS_SERVER_IP}:{NFSROOTFS},tcp,hard  ip=dhcp",
			"kernel tftp://{SERVER_IP}/{KERNEL} ${extraargs} ${console}", "initrd tftp://{SERVER_IP}/{RAMDISK}", "boot",
		}},
		{"constants/ipxe/interrupt-prompt", "Press Ctrl-B for the iPXE command line"},
		{"constants/ipxe/interrupt_ctrl_list", []string{"b"}},
		{"constants/ipxe/error-messages", []string{"No configuration methods succeeded", "Connection timed out"}},
		{"timeouts/actions/bootloader-commands", map[string]any{"minutes": 5}},
		{"timeouts/connections/bootloader-interrupt", map[string]any{"minutes": 5}},
	})
}
