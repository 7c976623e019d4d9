package devicetypes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The reference renderer: Debian's python3-jinja2 in LAVA's environment.
const python = "/usr/bin/python3"

type renderRequest struct {
	Name    string            `json:"name"`
	Dirs    []string          `json:"dirs"`
	Sources map[string]string `json:"sources,omitempty"`
	Context map[string]any    `json:"context"`
}

type renderAnswer struct {
	Config map[string]any `json:"config"`
	Error  string         `json:"error"`
}

// templatesDir writes the embedded templates (what Basalt ships, read
// through FS) to a directory for the reference renderer.
func templatesDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range Names() {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// render renders every request with the reference renderer in one python
// process.
func render(t *testing.T, reqs []renderRequest) []renderAnswer {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is missing: install the Debian packages python3, python3-jinja2 and python3-yaml", python)
	}
	in, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "render.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference renderer: %v\n%s(needs the Debian packages python3-jinja2 and python3-yaml)", err, stderr.String())
	}
	var answers []renderAnswer
	if err := json.Unmarshal(out, &answers); err != nil {
		t.Fatalf("reference renderer answer: %v", err)
	}
	if len(answers) != len(reqs) {
		t.Fatalf("reference renderer: %d answers to %d requests", len(answers), len(reqs))
	}
	return answers
}

// lookup returns the value at a slash-separated path of mapping keys, and
// whether every key exists (a key whose value is null exists).
func lookup(cfg map[string]any, path string) (any, bool) {
	var cur any = cfg
	for _, key := range strings.Split(path, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[key]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestNames(t *testing.T) {
	want := []string{
		"base-barebox.jinja2", "base-grub.jinja2", "base-uboot.jinja2", "base.jinja2",
		"beaglebone-black.jinja2", "qemu-ipxe-x86_64.jinja2", "qemu-uboot-x86_64.jinja2",
		"qemu.jinja2", "x86.jinja2",
	}
	if got := Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	for _, name := range want {
		if _, err := fs.Stat(FS(), name); err != nil {
			t.Errorf("FS() lacks %s: %v", name, err)
		}
	}
	for name, base := range map[string]bool{"base.jinja2": true, "base-uboot.jinja2": true, "x86.jinja2": false, "qemu.jinja2": false} {
		if IsBase(name) != base {
			t.Errorf("IsBase(%q) = %v, want %v", name, !base, base)
		}
	}
}

// Keys the dispatcher reads, for every template, and per boot method.
var (
	commonKeys = []string{
		"constants/posix/lava_test_sh_cmd", "constants/u-boot/interrupt-prompt",
		"constants/u-boot/error-messages", "constants/ipxe/interrupt_ctrl_list",
		"constants/grub/interrupt-character", "constants/barebox/interrupt-prompt",
		"constants/kernel-start-message", "constants/default-shell-prompt",
		"constants/shutdown-message", "constants/failure_retry", "parameters",
		"timeouts/actions", "timeouts/connections",
	}
	methodKeys = map[string][]string{
		"base-uboot.jinja2": {
			"actions/deploy/methods/tftp", "actions/deploy/parameters/mkimage_arch",
			"actions/boot/methods/u-boot/parameters/bootloader_prompt",
			"actions/boot/methods/u-boot/parameters/interrupt_prompt",
			"actions/boot/methods/u-boot/parameters/needs_interrupt",
			"actions/boot/methods/u-boot/ramdisk/commands", "actions/boot/methods/u-boot/nfs/commands",
			"actions/boot/methods/u-boot/nbd/commands", "actions/boot/methods/u-boot/usb/commands",
			"actions/boot/methods/u-boot/sata/commands",
		},
		"x86.jinja2": {
			"actions/deploy/methods/tftp", "actions/boot/methods/ipxe/parameters/bootloader_prompt",
			"actions/boot/methods/ipxe/parameters/lava_mac",
			"actions/boot/methods/ipxe/ramdisk/commands", "actions/boot/methods/ipxe/nfs/commands",
			"actions/boot/methods/ipxe/nbd/commands",
		},
		"base-grub.jinja2": {
			"actions/deploy/methods/tftp", "actions/boot/methods/grub/parameters/bootloader_prompt",
			"actions/boot/methods/grub/ramdisk/commands", "actions/boot/methods/grub/nfs/commands",
			"actions/boot/methods/grub/nbd/commands",
		},
		"base-barebox.jinja2": {
			"actions/deploy/methods/tftp", "actions/boot/methods/barebox/parameters/bootloader_prompt",
			"actions/boot/methods/barebox/parameters/interrupt_prompt",
			"actions/boot/methods/barebox/ramdisk/commands", "actions/boot/methods/barebox/nfs/commands",
		},
		"qemu.jinja2": {
			"actions/deploy/methods/image/parameters/guest/interface",
			"actions/boot/methods/qemu/parameters/command", "actions/boot/methods/qemu/parameters/options",
			"actions/boot/methods/qemu-nfs/parameters/append/nfsrootargs",
		},
	}
	// the base each type extends, for its method keys
	family = map[string]string{
		"beaglebone-black.jinja2": "base-uboot.jinja2", "qemu-uboot-x86_64.jinja2": "base-uboot.jinja2",
		"qemu-ipxe-x86_64.jinja2": "x86.jinja2",
	}
)

func keysFor(name string) []string {
	keys := append([]string(nil), commonKeys...)
	if f, ok := family[name]; ok {
		name = f
	}
	return append(keys, methodKeys[name]...)
}

var contexts = []map[string]any{
	{}, {"arch": "amd64"}, {"arch": "arm64"}, {"arch": "i386"}, {"arch": "riscv64"}, {"arch": "arm"},
	{"extra_kernel_args": "quiet", "guestfs_size": 1024},
}

// TestTemplatesRender renders every shipped template on its own with
// several job contexts and checks the YAML has the keys the dispatcher
// reads.
func TestTemplatesRender(t *testing.T) {
	dir := templatesDir(t)
	var reqs []renderRequest
	for _, name := range Names() {
		for _, ctx := range contexts {
			reqs = append(reqs, renderRequest{Name: name, Dirs: []string{dir}, Context: ctx})
		}
	}
	for i, a := range render(t, reqs) {
		r := reqs[i]
		if a.Error != "" {
			t.Errorf("%s with %v: %s", r.Name, r.Context, a.Error)
			continue
		}
		for _, key := range keysFor(r.Name) {
			if _, ok := lookup(a.Config, key); !ok {
				t.Errorf("%s with %v: no %s", r.Name, r.Context, key)
			}
		}
	}
}

// variables: one value for each variable the templates read, written into
// generated dictionaries one at a time and all together.
var variables = map[string]any{
	"deploy_character_delay": 5, "boot_character_delay": 7, "test_character_delay": 9,
	"lava_test_sh_cmd": "/bin/bash", "lava_test_results_dir": "/tmp/lava-%s", "lava_test_shell_file": "/etc/profile",
	"barebox_autoboot_prompt": "stop!", "barebox_interrupt_character": "x", "barebox_final_message": "go",
	"uboot_autoboot_prompt": "Press any key", "uboot_interrupt_character": "q", "interrupt_ctrl_list": []any{"c"},
	"uboot_interrupt_newline": false, "uboot_final_message": "Booting", "uboot_error_messages": []any{"E1", "E2"},
	"uboot_extra_error_message": "Extra", "dfu_download": "dl", "grub_autoboot_prompt": "gp",
	"grub_interrupt_character": "e", "grub_interrupt_newline": true, "ipxe_autoboot_prompt": "ip",
	"ipxe_interrupt_ctrl_list": []any{"x"}, "depthcharge_final_message": "df", "depthcharge_error_messages": []any{"D1"},
	"depthcharge_extra_error_message": "D2", "shutdown_message": "bye", "kernel_start_message": "Linux",
	"default_shell_prompt": "root@x:~#", "spawn_maxread": 100, "failure_retry": 3, "boot_retry": 2,
	"connection_command": "telnet localhost 7000", "must_use_connection": true,
	"hard_reset_command": "reset.sh", "soft_reboot_command": []any{"reboot", "sync"}, "power_off_command": "off.sh",
	"power_on_command": "on.sh", "pre_power_command": "pre.sh", "pre_os_command": "preos.sh",
	"recovery_mode_command": []any{"r1"}, "recovery_exit_command": []any{"r2"},
	"user_commands": map[string]any{"a": map[string]any{"do": "x", "undo": "y"}, "b": map[string]any{"do": "z"}},
	"device_info":   []any{map[string]any{"board_id": "123"}}, "static_info": []any{map[string]any{"probe": "p"}},
	"storage_info": []any{map[string]any{"SATA": "/dev/x"}}, "environment": map[string]any{"K": "v"},
	"fastboot_serial_number": "FB1", "flash_cmds_order": []any{"boot"}, "allow_test_services": true,
	"device_ip": "10.0.0.5", "device_mac": "00:11:22:33:44:55",
	"sata_uuid": "ata-1", "sata_label": "L", "sata_id": 2, "sata_interface": "ahci", "boot_part": 3, "uuid_required": false,
	"usb_uuid": "usb-1", "usb_label": "UL", "usb_device_id": 4,
	"static_ip": "10.0.0.9", "static_gateway": "10.0.0.1", "static_netmask": "255.0.0.0", "static_dns": "8.8.8.8",
	"base_ip_args": "", "extra_nfsroot_args": ",vers=3", "base_kernel_args": "k1", "extra_kernel_args": "quiet",
	"action_timeout_dd_image": 11, "action_timeout_power_off": 12, "connection_timeout_feedback": 14,
	"base_high_limits": false, "base_uboot_commands": []any{"echo hi"}, "uboot_initrd_high": "0x1",
	"uboot_ipaddr_cmd": "setenv ipaddr 1.2.3.4", "append_dtb": true, "uboot_load_fdt": "load fdt",
	"uboot_tftp_commands": []any{"tftp a b"}, "enable_dtbo_support": true, "uboot_fdt_extra_commands": []any{"fdt set /a b c"},
	"uboot_bootcmd": "bootmycmd", "uboot_bootx_cmd": "bootx2", "uboot_needs_pci": true, "uboot_needs_usb": true,
	"uboot_mac_addr": "aa:bb:cc:dd:ee:ff", "uboot_set_mac": true, "uboot_allow_chain_load_grub": false,
	"text_offset": "0x80000", "booti_kernel_addr": "0x1", "booti_ramdisk_addr": "0x2", "bootm_kernel_addr": "0x11",
	"bootz_kernel_addr": "0x21", "zboot_kernel_addr": "0x31", "zboot_ramdisk_addr": "0x32",
	"console_device": "ttyS2", "baud_rate": 9600, "console_parity": "e", "console_databits": "7",
	"fastboot_deploy_uboot_commands": []any{"fastboot 0"}, "bootloader_prompt": "MyBoard =>",
	"interrupt_prompt": "Autoboot in", "interrupt_char": "k", "uboot_needs_interrupt": false,
	"uboot_ramdisk_format": "raw", "uboot_mkimage_arch": "arm", "uboot_method_fit": true,
	"ssh_host": "1.1.1.1", "ssh_port": 2222, "ssh_user": "me", "docker_shell_extra_arguments": "--rm",
	"memory": 2048, "mac_addr": "52:54:00:00:00:01", "no_kvm": true, "guestfs_interface": "virtio",
	"boot_root": "/dev/vda", "boot_console": "ttyS1", "machine": "q35", "cpu": "qemu64", "model": "model=e1000",
	"netdevice": "tap", "extra_options": []any{"-smp 2"}, "no_network": true, "cpus": 2,
	"boot_interface": "net1", "lava_mac_address": "00:11:22:33:44:66", "use_bootscript": true,
	"grub_installed_device": "(hd0,gpt2)", "efi_grub": true, "pxe_net_configured": false, "net_interface": "efinet1",
	"efinet": true, "has_dtb": true, "grub_needs_interrupt": false, "load_addr": "0x1000", "initrd_load_addr": "0x2000",
}

// dictionary writes a LAVA device dictionary extending parent with sets.
func dictionary(t *testing.T, parent string, sets map[string]any) string {
	t.Helper()
	names := make([]string, 0, len(sets))
	for k := range sets {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "{%% extends '%s' %%}\n", parent)
	for _, k := range names {
		v, err := json.Marshal(sets[k]) // JSON literals are Jinja2 literals, but for the booleans
		if err != nil {
			t.Fatal(err)
		}
		lit := string(v)
		switch lit {
		case "true":
			lit = "True"
		case "false":
			lit = "False"
		}
		fmt.Fprintf(&b, "{%% set %s = %s %%}\n", k, lit)
	}
	return b.String()
}

// TestGeneratedDictionaries renders, for every shipped template, a
// dictionary per variable (that variable set) and one with all of them,
// and checks that each renders to YAML with the dispatcher's keys.
func TestGeneratedDictionaries(t *testing.T) {
	dir := templatesDir(t)
	var reqs []renderRequest
	var labels []string
	for _, name := range Names() {
		add := func(label string, sets map[string]any) {
			reqs = append(reqs, renderRequest{
				Name: "device.jinja2", Dirs: []string{dir},
				Sources: map[string]string{"device.jinja2": dictionary(t, name, sets)},
				Context: map[string]any{"arch": "amd64"},
			})
			labels = append(labels, name+" + "+label)
		}
		for k, v := range variables {
			add(k, map[string]any{k: v})
		}
		add("every variable", variables)
	}
	for i, a := range render(t, reqs) {
		if a.Error != "" {
			t.Errorf("%s: %s", labels[i], a.Error)
			continue
		}
		name := strings.SplitN(labels[i], " + ", 2)[0]
		for _, key := range keysFor(name) {
			if _, ok := lookup(a.Config, key); !ok {
				t.Errorf("%s: no %s", labels[i], key)
			}
		}
	}
}
