package devicetypes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/testutil/lavadeb"
)

// LAVA's own templates, as Debian packages them (lava-server, fetched at
// test time with apt-get download; never stored in this repository), are
// the reference of TestLAVAEquivalence. Debian's package is LAVA 2023.01;
// Basalt's templates follow LAVA's later tree, so the few keys and
// variables that changed since are left out of the comparison (below,
// with the reason).

// lavaTemplates returns the directory of Debian's lava-server device-type
// templates, downloaded and unpacked by lavadeb.
func lavaTemplates(t *testing.T) string {
	t.Helper()
	types := filepath.Join(lavadeb.Extract(t, "lava-server", "lava-common"), "usr/share/lava-server/device-types")
	if _, err := os.Stat(filepath.Join(types, "base-uboot.jinja2")); err != nil {
		t.Fatalf("lava-server %s has no device-type templates: %v", lavadeb.Version, err)
	}
	return types
}

// Variables whose handling LAVA changed after 2023.01 (Basalt follows the
// later form), and Basalt's own: they are not set in the compared
// dictionaries.
var newerVariables = map[string]string{
	"deploy_character_delay":      "character_delays.deploy is newer",
	"allow_test_services":         "parameters.allow_test_services is newer",
	"base_uboot_commands":         "a prefix to the U-Boot command sets is newer",
	"uboot_needs_pci":             "pci enum in the U-Boot command sets is newer",
	"uboot_fdt_extra_commands":    "newer",
	"enable_dtbo_support":         "device-tree overlays are newer",
	"uboot_ramdisk_format":        "add_header from the dictionary is newer",
	"uboot_set_mac":               "lava_mac for U-Boot is newer",
	"uboot_mac_addr":              "goes with uboot_set_mac",
	"uboot_method_fit":            "the fit command set changed",
	"no_network":                  "-net none is newer",
	"guestfs_interface":           "the qemu_guest_fs_interface filter is newer",
	"uboot_allow_chain_load_grub": "the grub chain-load methods are newer",
	"sd_uuid":                     "media device ids are quoted in the newer form",
	"usb_uuid":                    "media device ids are quoted in the newer form",
	"usb_device_id":               "media device ids are quoted in the newer form",
	"zboot_kernel_addr":           "Basalt's own (x86 U-Boot)",
	"zboot_ramdisk_addr":          "Basalt's own (x86 U-Boot)",
	"cpus":                        "Basalt's own (qemu: -smp)",
}

// Keys that differ whatever the dictionary says, dropped from both
// renderings ("*" is any key).
var newerKeys = []string{
	"hostname", "devicetype", // the scheduler_metadata block is newer
	"constants/u-boot/error-messages", "constants/grub/error-messages", "constants/grub-efi/error-messages", // messages added
	"timeouts/actions/download-retry",                                                              // default changed
	"actions/test",                                                                                 // the docker test method is newer
	"actions/deploy/connections/lxc", "actions/boot/connections/lxc", "actions/deploy/methods/lxc", // lxc removed
	"actions/boot/methods/uuu/options/usb_otg_path", "actions/boot/methods/uuu/options/additional_bcu_cleanup_commands",
	"actions/boot/methods/uuu/options/bcu_board_id_command", "actions/boot/methods/uuu/options/usb_otg_path_command",
	"actions/boot/methods/grub", "actions/boot/methods/grub-efi", // on u-boot boards: chain-load is newer
	"parameters/dtb_base_resize", "parameters/*/dtbo", // overlays are newer
	"available_architectures",                 // architectures added
	"actions/boot/methods/minimal/nodebooter", // placeholder
}

func dropKey(v any, path []string) {
	m, ok := v.(map[string]any)
	if !ok || len(path) == 0 {
		return
	}
	if len(path) == 1 {
		if path[0] == "*" {
			for k := range m {
				delete(m, k)
			}
		}
		delete(m, path[0])
		return
	}
	for k, sub := range m {
		if path[0] == "*" || path[0] == k {
			dropKey(sub, path[1:])
		}
	}
}

// TestLAVAEquivalence renders LAVA-style dictionaries (each variable alone,
// then all of them) with LAVA's templates and with Basalt's, for the types
// both ship, and requires the same configuration.
func TestLAVAEquivalence(t *testing.T) {
	lava := lavaTemplates(t)
	ours := templatesDir(t)
	sets := map[string]any{}
	for k, v := range variables {
		if _, newer := newerVariables[k]; !newer {
			sets[k] = v
		}
	}
	var reqs []renderRequest
	var labels []string
	for _, name := range []string{"base.jinja2", "base-uboot.jinja2", "beaglebone-black.jinja2", "qemu.jinja2", "x86.jinja2", "base-grub.jinja2", "base-barebox.jinja2"} {
		for _, arch := range []string{"amd64", "arm64"} {
			cases := map[string]map[string]any{"no variable": {}, "every variable": sets}
			for k, v := range sets {
				cases[k] = map[string]any{k: v}
			}
			for label, vars := range cases {
				src := map[string]string{"device.jinja2": dictionary(t, name, vars)}
				ctx := map[string]any{"arch": arch}
				reqs = append(reqs,
					renderRequest{Name: "device.jinja2", Dirs: []string{lava}, Sources: src, Context: ctx},
					renderRequest{Name: "device.jinja2", Dirs: []string{ours}, Sources: src, Context: ctx})
				labels = append(labels, name+" ("+arch+") + "+label)
			}
		}
	}
	answers := render(t, reqs)
	same := 0
	for i, label := range labels {
		l, o := answers[2*i], answers[2*i+1]
		if l.Error != "" || o.Error != "" {
			if (l.Error == "") != (o.Error == "") {
				t.Errorf("%s: LAVA: %q, Basalt: %q", label, l.Error, o.Error)
			}
			continue
		}
		for _, k := range newerKeys {
			dropKey(l.Config, strings.Split(k, "/"))
			dropKey(o.Config, strings.Split(k, "/"))
		}
		if strings.Contains(label, "(arm64)") && strings.HasPrefix(label, "qemu") {
			// LAVA 2023.01 always said ide; the newer filter says virtio off x86
			for _, c := range []map[string]any{l.Config, o.Config} {
				dropKey(c, strings.Split("actions/deploy/methods/image/parameters/guest/interface", "/"))
			}
		}
		if !reflect.DeepEqual(l.Config, o.Config) {
			lj, _ := json.MarshalIndent(l.Config, "", " ")
			oj, _ := json.MarshalIndent(o.Config, "", " ")
			t.Errorf("%s: the configurations differ\nLAVA:\n%s\nBasalt:\n%s", label, lj, oj)
			continue
		}
		same++
	}
	if same < len(labels)*9/10 {
		t.Errorf("only %d of %d renderings compared equal", same, len(labels))
	}
	t.Logf("%d of %d dictionaries render to the same configuration with LAVA's and Basalt's templates", same, len(labels))
}
