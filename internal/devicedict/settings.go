package devicedict

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
)

// Prefixes of the timeout variables of base.jinja2.
const (
	ActionTimeoutPrefix     = "action_timeout_"
	ConnectionTimeoutPrefix = "connection_timeout_"
)

// timeoutVar is one timeout variable of base.jinja2: the variable's suffix,
// the LAVA action names it sets, its unit and its default (in that unit).
type timeoutVar struct {
	suffix  string
	actions []string
	unit    string // "minutes" or "seconds"
	def     int
}

func (t timeoutVar) duration(n int) time.Duration {
	if t.unit == "minutes" {
		return time.Duration(n) * time.Minute
	}
	return time.Duration(n) * time.Second
}

// actionTimeouts are base.jinja2's action_timeout_* variables.
var actionTimeouts = []timeoutVar{
	{"apply_overlay_image", []string{"apply-overlay-image"}, "minutes", 2},
	{"dd_image", []string{"dd-image"}, "minutes", 10},
	{"download_retry", []string{"download-retry"}, "minutes", 15},
	{"http_download", []string{"http-download"}, "minutes", 5},
	{"lava_test_shell", []string{"lava-test-shell"}, "minutes", 3},
	{"nfs_deploy", []string{"nfs-deploy"}, "minutes", 10},
	{"power_off", []string{"power-off"}, "seconds", 10},
	{"bootloader_commands", []string{"bootloader-commands"}, "minutes", 3},
	{"bootloader_interrupt", []string{"bootloader-interrupt"}, "seconds", 30},
	{"u_boot_interrupt", []string{"u-boot-interrupt"}, "seconds", 30},
	{"umount_retry", []string{"umount-retry"}, "seconds", 45},
	{"auto_login", []string{"auto-login-action"}, "minutes", 2},
	{"bootloader_action", []string{"bootloader-action"}, "minutes", 3},
	{"uboot_action", []string{"uboot-action"}, "minutes", 3},
	{"uboot_commands", []string{"uboot-commands"}, "minutes", 3},
	{"bootloader_retry", []string{"bootloader-retry"}, "minutes", 3},
	{"boot_qemu_image", []string{"boot-qemu-image"}, "minutes", 2},
	{"boot_image_retry", []string{"boot-image-retry"}, "minutes", 2},
	{"flash_uboot_ums", []string{"flash-uboot-ums"}, "minutes", 20},
	{"musca_deploy", []string{"musca-deploy"}, "minutes", 3},
	{"musca_boot", []string{"musca-boot"}, "minutes", 1},
	{"unmount_musca_usbmsd", []string{"unmount-musca-usbmsd"}, "seconds", 30},
	{"pdu_reboot", []string{"pdu-reboot"}, "seconds", 30},
	{"reset_device", []string{"reset-device"}, "seconds", 30},
}

// connectionTimeouts are base.jinja2's connection_timeout_* variables.
var connectionTimeouts = []timeoutVar{
	{"dd_image", []string{"dd-image"}, "minutes", 10},
	{"uboot_commands", []string{"uboot-commands"}, "seconds", 30},
	{"bootloader_commands", []string{"bootloader-commands"}, "seconds", 30},
	{"auto_login", []string{"auto-login-action"}, "minutes", 2},
	{"bootloader_interrupt", []string{"bootloader-interrupt"}, "seconds", 30},
	{"u_boot_interrupt", []string{"u-boot-interrupt"}, "seconds", 30},
	{"feedback", []string{"lava-test-shell", "lava-docker-test-shell"}, "seconds", 10},
}

// DeviceTimeouts are the device's action and connection timeouts by LAVA
// action name ("auto-login-action", "lava-test-shell", …), as base.jinja2
// renders them into timeouts.actions and timeouts.connections.
type DeviceTimeouts struct {
	Actions     map[string]time.Duration
	Connections map[string]time.Duration
}

// Timeouts returns the device timeouts: base.jinja2's defaults, replaced by
// the action_timeout_<name> and connection_timeout_<name> variables
// (minutes or seconds, as the template's table says for each name).
// Values that are not positive integers keep the default.
func Timeouts(vars map[string]any) DeviceTimeouts {
	out := DeviceTimeouts{Actions: map[string]time.Duration{}, Connections: map[string]time.Duration{}}
	fill := func(prefix string, table []timeoutVar, dst map[string]time.Duration) {
		for _, t := range table {
			n := t.def
			if v, ok := intVar(vars, prefix+t.suffix); ok && v > 0 {
				n = v
			}
			for _, a := range t.actions {
				dst[a] = t.duration(n)
			}
		}
	}
	fill(ActionTimeoutPrefix, actionTimeouts, out.Actions)
	fill(ConnectionTimeoutPrefix, connectionTimeouts, out.Connections)
	return out
}

// Constants are base.jinja2's constants a test run needs.
type Constants struct {
	// ShCmd is the test shell (lava_test_sh_cmd, default /bin/sh).
	ShCmd string
	// ResultsDir is the overlay's directory on the device, with %s for the
	// job id (lava_test_results_dir, default /lava-%s).
	ResultsDir string
	// ShellFile is the file the test shell sources (lava_test_shell_file,
	// default ~/.bashrc).
	ShellFile string
	// DefaultShellPrompt is the prompt of auto-login when the job gives
	// none (default_shell_prompt, default "lava-test: # ").
	DefaultShellPrompt string
	// KernelStartMessage marks the kernel's start in the boot log, a
	// regular expression (kernel_start_message, default "Linux version
	// [0-9]").
	KernelStartMessage string
	// ShutdownMessage is the OS shutdown message (shutdown_message).
	ShutdownMessage string
	// FailureRetry is how many times a failing action is attempted
	// (failure_retry, default 1).
	FailureRetry int
	// BootRetry overrides the boot actions' retries; 0 when not set
	// (boot_retry).
	BootRetry int
}

// Defaults of the constants, as base.jinja2 renders them (one set, the
// rendered configuration reader's).
const (
	DefaultShCmd              = deviceconfig.DefaultShCmd
	DefaultResultsDir         = deviceconfig.DefaultResultsDir
	DefaultShellFile          = deviceconfig.DefaultShellFile
	DefaultShellPrompt        = deviceconfig.DefaultShellPrompt
	DefaultKernelStartMessage = deviceconfig.DefaultKernelStartMessage
	DefaultShutdownMessage    = deviceconfig.DefaultShutdownMessage
)

// ReadConstants returns the constants of the effective variables, with
// base.jinja2's defaults for those unset or of the wrong type.
func ReadConstants(vars map[string]any) Constants {
	c := Constants{
		ShCmd:              strVar(vars, "lava_test_sh_cmd", DefaultShCmd),
		ResultsDir:         strVar(vars, "lava_test_results_dir", DefaultResultsDir),
		ShellFile:          strVar(vars, "lava_test_shell_file", DefaultShellFile),
		DefaultShellPrompt: strVar(vars, "default_shell_prompt", DefaultShellPrompt),
		KernelStartMessage: DefaultKernelStartMessage,
		ShutdownMessage:    DefaultShutdownMessage,
		FailureRetry:       1,
	}
	if s, ok := vars["kernel_start_message"].(string); ok {
		c.KernelStartMessage = s
	}
	if s, ok := vars["shutdown_message"].(string); ok {
		c.ShutdownMessage = s
	}
	if n, ok := intVar(vars, "failure_retry"); ok && n >= 1 {
		c.FailureRetry = n
	}
	if n, ok := intVar(vars, "boot_retry"); ok && n >= 0 {
		c.BootRetry = n
	}
	return c
}

// UserCommand is one of user_commands: the command a job's command action
// runs, and the one that undoes it at the end of the job ("" for none).
type UserCommand struct {
	Do, Undo string
}

// UserCommands returns user_commands by name; malformed entries (no do:
// string) are left out.
func UserCommands(vars map[string]any) map[string]UserCommand {
	out := map[string]UserCommand{}
	m, _ := vars["user_commands"].(map[string]any)
	for name, v := range m {
		c, _ := v.(map[string]any)
		do, ok := c["do"].(string)
		if !ok || do == "" {
			continue
		}
		undo, _ := c["undo"].(string)
		out[name] = UserCommand{Do: do, Undo: undo}
	}
	return out
}

// Environment returns the environment variables to export on the device;
// numbers and booleans are written as text (true/false), other values are
// left out.
func Environment(vars map[string]any) map[string]string {
	out := map[string]string{}
	m, _ := vars["environment"].(map[string]any)
	for k, v := range m {
		if s, ok := scalarText(v); ok && envName.MatchString(k) {
			out[k] = s
		}
	}
	return out
}

// Commands are the device's connection and power commands (base.jinja2's
// commands block). Each list is the commands to run in order; a string
// variable is a list of one.
type Commands struct {
	Connect                                            string
	PowerOn, PowerOff, HardReset, SoftReboot, PrePower []string
	PreOS, RecoveryMode, RecoveryExit                  []string
}

// ReadCommands returns the connection and power commands that are set.
func ReadCommands(vars map[string]any) Commands {
	c := Commands{Connect: strVar(vars, "connection_command", "")}
	for name, dst := range map[string]*[]string{
		"power_on_command": &c.PowerOn, "power_off_command": &c.PowerOff,
		"hard_reset_command": &c.HardReset, "soft_reboot_command": &c.SoftReboot,
		"pre_power_command": &c.PrePower, "pre_os_command": &c.PreOS,
		"recovery_mode_command": &c.RecoveryMode, "recovery_exit_command": &c.RecoveryExit,
	} {
		*dst = stringList(vars[name])
	}
	return c
}

// CharacterDelays are the pauses between characters typed on the console
// in each phase (deploy_/boot_/test_character_delay, milliseconds; 0 by
// default).
type CharacterDelays struct {
	Deploy, Boot, Test time.Duration
}

// ReadCharacterDelays returns the character delays.
func ReadCharacterDelays(vars map[string]any) CharacterDelays {
	ms := func(name string) time.Duration {
		if n, ok := intVar(vars, name); ok && n > 0 {
			return time.Duration(n) * time.Millisecond
		}
		return 0
	}
	return CharacterDelays{Deploy: ms("deploy_character_delay"), Boot: ms("boot_character_delay"), Test: ms("test_character_delay")}
}

// --- reading effective variables ---

// strVar returns a string variable, or def when it is unset, none or not a
// string.
func strVar(vars map[string]any, name, def string) string {
	if s, ok := vars[name].(string); ok {
		return s
	}
	return def
}

// intVar returns an integer variable (an integral float or a decimal
// string counts).
func intVar(vars map[string]any, name string) (int, bool) {
	v, ok := vars[name]
	if !ok || v == nil {
		return 0, false
	}
	if s, isStr := v.(string); isStr {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return n, err == nil
	}
	return intValue(fromValue(v, 0))
}

// stringList reads a string or a list of strings.
func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case []string:
		return append([]string(nil), x...)
	case []any:
		var out []string
		for _, it := range x {
			if s, ok := it.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float32, float64:
		f := fromValue(x, 0).f
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	if i, ok := toInt(v); ok {
		return strconv.Itoa(i), true
	}
	return "", false
}

// sortedKeys returns the keys of a map in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
