package deviceconfig

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/yamltree"
)

// MaxSize is the largest rendered configuration Read accepts, in bytes.
const MaxSize = 4 << 20

// limits bound the YAML reader on a rendered configuration.
var limits = yamltree.Limits{MaxBytes: MaxSize, MaxDepth: 64, MaxKeys: 4096, MaxExpansion: 100000}

// Config is a device's rendered configuration.
type Config struct {
	// Hostname and DeviceType are what the template rendered for them
	// (scheduled_device_name and the type; either may be empty).
	Hostname, DeviceType string
	// Commands are the connection, power and user commands.
	Commands Commands
	// CharacterDelays are the pauses between characters typed on the
	// console in each phase.
	CharacterDelays CharacterDelays
	// Constants are the constants block.
	Constants Constants
	// Parameters is the parameters block as read (load addresses by
	// kernel type, interfaces, media, …); see Addresses.
	Parameters map[string]any
	// DeployMethods and BootMethods are the methods the device offers
	// under actions.deploy.methods and actions.boot.methods, by name. A
	// method written without a value ("minimal:") has an empty Method.
	DeployMethods, BootMethods map[string]Method
	// DeployParameters is actions.deploy.parameters (add_header,
	// mkimage_arch, append_dtb, …).
	DeployParameters map[string]any
	// Timeouts are timeouts.actions and timeouts.connections by action
	// name.
	Timeouts Timeouts
	// Environment is the environment exported on the device.
	Environment map[string]string
	// Simulated is Basalt's simulated-device description, when the
	// configuration has one (simulated:).
	Simulated map[string]any
	// Raw is the whole configuration as read.
	Raw map[string]any
}

// Commands are the device's commands block.
type Commands struct {
	// Connect is the primary console's command (connect:), or the
	// connect of the connection tagged primary.
	Connect string
	// Connections are the named connections (connections:), when the
	// device has several.
	Connections map[string]Connection
	// MustUseConnection is must_use_connection.
	MustUseConnection bool
	// Power commands, in order; a string is a list of one.
	PowerOn, PowerOff, HardReset, SoftReboot, PrePower, PreOS []string
	// RecoveryMode and RecoveryExit enter and leave recovery mode.
	RecoveryMode, RecoveryExit []string
	// Users are user_commands by name, for command actions.
	Users map[string]UserCommand
}

// Connection is one named console connection.
type Connection struct {
	// Connect is the command that opens it.
	Connect string
	// Tags are its tags (primary, telnet, ssh, …).
	Tags []string
}

// UserCommand is a command a job's command action runs, and the one that
// undoes it when the job ends ("" for none).
type UserCommand struct {
	Do, Undo string
}

// CharacterDelays are the pauses between characters typed in each phase.
type CharacterDelays struct {
	Deploy, Boot, Test time.Duration
}

// Constants are the constants block.
type Constants struct {
	// ShCmd, ResultsDir and ShellFile are the posix: test shell
	// settings.
	ShCmd, ResultsDir, ShellFile string
	// Bootloaders are the per-bootloader constants (u-boot, grub, ipxe,
	// barebox, depthcharge, …) by name.
	Bootloaders map[string]Bootloader
	// ShutdownMessage, KernelStartMessage and DefaultShellPrompt are the
	// same-named constants.
	ShutdownMessage, KernelStartMessage, DefaultShellPrompt string
	// FailureRetry is failure_retry (1 when unset); BootRetry is
	// boot_retry (0 when unset).
	FailureRetry, BootRetry int
}

// Bootloader are one bootloader's constants.
type Bootloader struct {
	// InterruptPrompt is what the bootloader prints before it boots by
	// itself (interrupt-prompt).
	InterruptPrompt string
	// InterruptCharacter is typed to stop it (interrupt-character).
	InterruptCharacter string
	// InterruptCtrlList are control characters sent instead
	// (interrupt_ctrl_list: "c" is Ctrl-C).
	InterruptCtrlList []string
	// InterruptNewline says whether a newline follows the interrupt
	// character (interrupt-newline, true when unset).
	InterruptNewline bool
	// FinalMessage is printed when the bootloader hands over to the kernel
	// (final-message).
	FinalMessage string
	// ErrorMessages are regular expressions that mean the boot failed
	// (error-messages).
	ErrorMessages []string
}

// Method is one deploy or boot method the device offers.
type Method struct {
	// Parameters is the method's parameters: mapping.
	Parameters map[string]any
	// CommandSets are the bootloader command sets the method defines
	// (ramdisk:, nfs:, … each with commands:), by name.
	CommandSets map[string][]string
	// Raw is the method's whole mapping (nil when written without one).
	Raw map[string]any
}

// Timeouts are the device's timeouts by LAVA action name.
type Timeouts struct {
	Actions, Connections map[string]time.Duration
}

// Defaults of the constants when the configuration has none.
const (
	DefaultShCmd              = "/bin/sh"
	DefaultResultsDir         = "/lava-%s"
	DefaultShellFile          = "~/.bashrc"
	DefaultShellPrompt        = "lava-test: # "
	DefaultKernelStartMessage = "Linux version [0-9]"
	DefaultShutdownMessage    = "The system is going down for reboot NOW"
)

// Error is a problem in a rendered configuration.
type Error struct {
	// Line and Column are 1-based (0 when unknown).
	Line, Column int
	// Path is the YAML path ("commands.power_on[1]").
	Path string
	// Msg says what is wrong.
	Msg string
}

// Error returns "line:column: path: message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Column)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Read parses a rendered device configuration. The text must be a YAML
// mapping; the blocks Basalt uses must have their documented shapes.
func Read(text string) (*Config, error) {
	root, err := yamltree.ReadPolicy([]byte(text), limits, yamltree.Policy{LastKeyWins: true, NullAtKey: true, TypedTags: true})
	if err != nil {
		if ye, ok := err.(*yamltree.Error); ok {
			return nil, &Error{Line: ye.Line, Column: ye.Column, Msg: "the rendered device configuration is not valid YAML: " + ye.Msg}
		}
		return nil, fmt.Errorf("reading the rendered device configuration: %w", err)
	}
	if root == nil || root.Kind != yamltree.Map {
		line, col := 1, 1
		what := "nothing"
		if root != nil {
			line, col, what = root.Line, root.Column, root.Describe()
		}
		return nil, &Error{Line: line, Column: col, Msg: "the rendered device configuration must be a mapping, got " + what}
	}
	r := &reader{}
	c := &Config{Raw: value(root).(map[string]any)}
	c.Hostname = r.str(root, "hostname")
	c.DeviceType = r.str(root, "devicetype")
	r.commands(root, &c.Commands)
	r.delays(root, &c.CharacterDelays)
	r.constants(root, &c.Constants)
	c.Parameters = r.mapping(root, "parameters")
	actions, _ := root.Get("actions")
	if actions != nil && actions.Kind != yamltree.Map && actions.Kind != yamltree.Null {
		r.fail(actions, "actions", "expected a mapping, got %s", actions.Describe())
		actions = nil
	}
	deploy := r.sub(actions, "actions", "deploy")
	c.DeployMethods = r.methods(deploy, "actions.deploy")
	c.DeployParameters = r.mapping(deploy, "parameters")
	c.BootMethods = r.methods(r.sub(actions, "actions", "boot"), "actions.boot")
	r.timeouts(root, &c.Timeouts)
	c.Environment = r.environment(root)
	c.Simulated = r.mapping(root, "simulated")
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// reader keeps the first problem found.
type reader struct{ err *Error }

func (r *reader) fail(n *yamltree.Node, path, format string, args ...any) {
	if r.err != nil {
		return
	}
	r.err = &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		r.err.Line, r.err.Column = n.Line, n.Column
	}
}

// sub returns the mapping under key of n (nil when absent or null).
func (r *reader) sub(n *yamltree.Node, path, key string) *yamltree.Node {
	if n == nil {
		return nil
	}
	v, ok := n.Get(key)
	if !ok || v.Kind == yamltree.Null {
		return nil
	}
	if v.Kind != yamltree.Map {
		r.fail(v, join(path, key), "expected a mapping, got %s", v.Describe())
		return nil
	}
	return v
}

func (r *reader) mapping(n *yamltree.Node, key string) map[string]any {
	m := r.sub(n, "", key)
	if m == nil {
		return nil
	}
	return value(m).(map[string]any)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// str reads an optional scalar under key as text.
func (r *reader) str(n *yamltree.Node, key string) string {
	return r.strAt(n, key, key)
}

func (r *reader) strAt(n *yamltree.Node, key, path string) string {
	if n == nil {
		return ""
	}
	v, ok := n.Get(key)
	if !ok || v.Kind == yamltree.Null {
		return ""
	}
	if v.Kind != yamltree.Scalar {
		r.fail(v, path, "expected a string, got %s", v.Describe())
		return ""
	}
	return v.Text
}

// list reads a string or a list of strings (nulls in the list are left
// out, as LAVA's templates render unset items).
func (r *reader) list(n *yamltree.Node, key, path string) []string {
	if n == nil {
		return nil
	}
	v, ok := n.Get(key)
	if !ok || v.Kind == yamltree.Null {
		return nil
	}
	switch v.Kind {
	case yamltree.Scalar:
		if v.Text == "" {
			return nil
		}
		return []string{v.Text}
	case yamltree.Seq:
		var out []string
		for i, it := range v.Items {
			switch it.Kind {
			case yamltree.Null:
			case yamltree.Scalar:
				out = append(out, it.Text)
			default:
				r.fail(it, fmt.Sprintf("%s[%d]", path, i), "expected a string, got %s", it.Describe())
			}
		}
		return out
	}
	r.fail(v, path, "expected a string or a list of strings, got %s", v.Describe())
	return nil
}

// boolean reads a YAML 1.1 boolean as PyYAML does (true/yes/on, any case).
func boolean(n *yamltree.Node) (bool, bool) {
	if n == nil || n.Kind != yamltree.Scalar {
		return false, false
	}
	if b, ok := n.Value.(bool); ok {
		return b, true
	}
	if n.Quoted {
		return false, false
	}
	switch strings.ToLower(n.Text) {
	case "true", "yes", "on", "y":
		return true, true
	case "false", "no", "off", "n":
		return false, true
	}
	return false, false
}

func (r *reader) boolAt(n *yamltree.Node, key, path string, def bool) bool {
	if n == nil {
		return def
	}
	v, ok := n.Get(key)
	if !ok || v.Kind == yamltree.Null {
		return def
	}
	b, ok := boolean(v)
	if !ok {
		r.fail(v, path, "expected a boolean, got %s", v.Describe())
		return def
	}
	return b
}

func intOf(n *yamltree.Node) (int, bool) {
	if n == nil || n.Kind != yamltree.Scalar {
		return 0, false
	}
	i, err := strconv.Atoi(strings.TrimSpace(n.Text))
	return i, err == nil
}

func (r *reader) commands(root *yamltree.Node, c *Commands) {
	n := r.sub(root, "", "commands")
	if n == nil {
		return
	}
	c.Connect = r.strAt(n, "connect", "commands.connect")
	c.MustUseConnection = r.boolAt(n, "must_use_connection", "commands.must_use_connection", false)
	for key, dst := range map[string]*[]string{
		"power_on": &c.PowerOn, "power_off": &c.PowerOff, "hard_reset": &c.HardReset,
		"soft_reboot": &c.SoftReboot, "pre_power_command": &c.PrePower, "pre_os_command": &c.PreOS,
		"recovery_mode": &c.RecoveryMode, "recovery_exit": &c.RecoveryExit,
	} {
		*dst = r.list(n, key, "commands."+key)
	}
	if conns := r.sub(n, "commands", "connections"); conns != nil {
		c.Connections = map[string]Connection{}
		for _, e := range conns.Entries {
			path := "commands.connections." + e.Key
			if e.Value.Kind != yamltree.Map {
				r.fail(e.Value, path, "expected a mapping with connect: and tags:, got %s", e.Value.Describe())
				continue
			}
			conn := Connection{Connect: r.strAt(e.Value, "connect", path+".connect"), Tags: r.list(e.Value, "tags", path+".tags")}
			if conn.Connect == "" {
				r.fail(e.Value, path, "the connection has no connect: command")
			}
			c.Connections[e.Key] = conn
		}
		if c.Connect == "" {
			c.Connect = r.primary(conns, c.Connections)
		}
	}
	if users := r.sub(n, "commands", "users"); users != nil {
		c.Users = map[string]UserCommand{}
		for _, e := range users.Entries {
			path := "commands.users." + e.Key
			if e.Value.Kind != yamltree.Map {
				r.fail(e.Value, path, "expected a mapping with do: and undo:, got %s", e.Value.Describe())
				continue
			}
			uc := UserCommand{Do: r.strAt(e.Value, "do", path+".do"), Undo: r.strAt(e.Value, "undo", path+".undo")}
			if uc.Do == "" {
				r.fail(e.Value, path, "the user command has no do: command")
			}
			c.Users[e.Key] = uc
		}
	}
}

// primary returns the connect command of the connection tagged primary;
// LAVA requires exactly one.
func (r *reader) primary(conns *yamltree.Node, m map[string]Connection) string {
	var names []string
	for name, c := range m {
		if slices.Contains(c.Tags, "primary") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	switch len(names) {
	case 1:
		return m[names[0]].Connect
	case 0:
		r.fail(conns, "commands.connections", "no connection is tagged primary: tag exactly one")
	default:
		r.fail(conns, "commands.connections", "%d connections are tagged primary (%s): tag exactly one", len(names), strings.Join(names, ", "))
	}
	return ""
}

func (r *reader) delays(root *yamltree.Node, d *CharacterDelays) {
	n := r.sub(root, "", "character_delays")
	for key, dst := range map[string]*time.Duration{"deploy": &d.Deploy, "boot": &d.Boot, "test": &d.Test} {
		if n == nil {
			continue
		}
		v, ok := n.Get(key)
		if !ok || v.Kind == yamltree.Null {
			continue
		}
		ms, ok := intOf(v)
		if !ok || ms < 0 || ms > 10000 {
			r.fail(v, "character_delays."+key, "expected milliseconds from 0 to 10000, got %s", v.Describe())
			continue
		}
		*dst = time.Duration(ms) * time.Millisecond
	}
}

func (r *reader) constants(root *yamltree.Node, c *Constants) {
	*c = Constants{
		ShCmd: DefaultShCmd, ResultsDir: DefaultResultsDir, ShellFile: DefaultShellFile,
		ShutdownMessage: DefaultShutdownMessage, KernelStartMessage: DefaultKernelStartMessage,
		DefaultShellPrompt: DefaultShellPrompt, FailureRetry: 1,
	}
	n := r.sub(root, "", "constants")
	if n == nil {
		return
	}
	set := func(dst *string, node *yamltree.Node, key, path string) {
		if s := r.strAt(node, key, path); s != "" {
			*dst = s
		}
	}
	if posix := r.sub(n, "constants", "posix"); posix != nil {
		set(&c.ShCmd, posix, "lava_test_sh_cmd", "constants.posix.lava_test_sh_cmd")
		set(&c.ResultsDir, posix, "lava_test_results_dir", "constants.posix.lava_test_results_dir")
		set(&c.ShellFile, posix, "lava_test_shell_file", "constants.posix.lava_test_shell_file")
	}
	set(&c.ShutdownMessage, n, "shutdown-message", "constants.shutdown-message")
	set(&c.KernelStartMessage, n, "kernel-start-message", "constants.kernel-start-message")
	set(&c.DefaultShellPrompt, n, "default-shell-prompt", "constants.default-shell-prompt")
	for key, dst := range map[string]*int{"failure_retry": &c.FailureRetry, "boot_retry": &c.BootRetry} {
		v, ok := n.Get(key)
		if !ok || v.Kind == yamltree.Null {
			continue
		}
		i, ok := intOf(v)
		if !ok || i < 0 {
			r.fail(v, "constants."+key, "expected a whole number, got %s", v.Describe())
			continue
		}
		*dst = i
	}
	if c.FailureRetry < 1 {
		c.FailureRetry = 1
	}
	c.Bootloaders = map[string]Bootloader{}
	for _, e := range n.Entries {
		if e.Value.Kind != yamltree.Map || e.Key == "posix" {
			continue
		}
		path := "constants." + e.Key
		if _, ok := e.Value.Get("interrupt-prompt"); !ok {
			if _, ok := e.Value.Get("error-messages"); !ok {
				if _, ok := e.Value.Get("final-message"); !ok {
					continue
				}
			}
		}
		c.Bootloaders[e.Key] = Bootloader{
			InterruptPrompt:    r.strAt(e.Value, "interrupt-prompt", path+".interrupt-prompt"),
			InterruptCharacter: r.strAt(e.Value, "interrupt-character", path+".interrupt-character"),
			InterruptCtrlList:  r.list(e.Value, "interrupt_ctrl_list", path+".interrupt_ctrl_list"),
			InterruptNewline:   r.boolAt(e.Value, "interrupt-newline", path+".interrupt-newline", true),
			FinalMessage:       r.strAt(e.Value, "final-message", path+".final-message"),
			ErrorMessages:      r.list(e.Value, "error-messages", path+".error-messages"),
		}
	}
}

// methods reads a methods: mapping under n.
func (r *reader) methods(n *yamltree.Node, path string) map[string]Method {
	out := map[string]Method{}
	ms := r.sub(n, path, "methods")
	if ms == nil {
		return out
	}
	for _, e := range ms.Entries {
		mpath := path + ".methods." + e.Key
		m := Method{}
		switch e.Value.Kind {
		case yamltree.Null:
		case yamltree.Map:
			m.Raw = value(e.Value).(map[string]any)
			m.Parameters = r.mapping(e.Value, "parameters")
			for _, set := range e.Value.Entries {
				if set.Value.Kind != yamltree.Map {
					continue
				}
				cmds, ok := set.Value.Get("commands")
				if !ok {
					continue
				}
				if m.CommandSets == nil {
					m.CommandSets = map[string][]string{}
				}
				if cmds.Kind != yamltree.Seq && cmds.Kind != yamltree.Null {
					r.fail(cmds, mpath+"."+set.Key+".commands", "expected a list of commands, got %s", cmds.Describe())
					continue
				}
				m.CommandSets[set.Key] = r.list(set.Value, "commands", mpath+"."+set.Key+".commands")
			}
		default:
			m.Raw = map[string]any{}
		}
		out[e.Key] = m
	}
	return out
}

func (r *reader) timeouts(root *yamltree.Node, t *Timeouts) {
	t.Actions, t.Connections = map[string]time.Duration{}, map[string]time.Duration{}
	n := r.sub(root, "", "timeouts")
	for key, dst := range map[string]map[string]time.Duration{"actions": t.Actions, "connections": t.Connections} {
		m := r.sub(n, "timeouts", key)
		if m == nil {
			continue
		}
		for _, e := range m.Entries {
			d, err := duration(e.Value)
			if err != "" {
				r.fail(e.Value, "timeouts."+key+"."+e.Key, "%s", err)
				continue
			}
			dst[e.Key] = d
		}
	}
}

// duration reads LAVA's {days|hours|minutes|seconds: N} timeout.
func duration(n *yamltree.Node) (time.Duration, string) {
	if n.Kind != yamltree.Map || len(n.Entries) == 0 {
		return 0, "expected a timeout such as {minutes: 2}, got " + n.Describe()
	}
	var total time.Duration
	for _, e := range n.Entries {
		unit := map[string]time.Duration{"days": 24 * time.Hour, "hours": time.Hour, "minutes": time.Minute, "seconds": time.Second}[e.Key]
		if unit == 0 {
			return 0, fmt.Sprintf("unknown timeout unit %q: use days, hours, minutes or seconds", e.Key)
		}
		i, ok := intOf(e.Value)
		if !ok || i < 0 || i > 1000000 {
			return 0, fmt.Sprintf("%s: expected a whole number, got %s", e.Key, e.Value.Describe())
		}
		total += time.Duration(i) * unit
	}
	return total, ""
}

func (r *reader) environment(root *yamltree.Node) map[string]string {
	n := r.sub(root, "", "environment")
	if n == nil {
		return nil
	}
	out := map[string]string{}
	for _, e := range n.Entries {
		if e.Value.Kind != yamltree.Scalar {
			r.fail(e.Value, "environment."+e.Key, "expected a string, got %s", e.Value.Describe())
			continue
		}
		out[e.Key] = e.Value.Text
	}
	return out
}

// value converts a node to plain Go values: map[string]any, []any,
// string, int64, uint64, float64, bool or nil.
func value(n *yamltree.Node) any {
	switch n.Kind {
	case yamltree.Map:
		m := make(map[string]any, len(n.Entries))
		for _, e := range n.Entries {
			m[e.Key] = value(e.Value)
		}
		return m
	case yamltree.Seq:
		l := make([]any, len(n.Items))
		for i, it := range n.Items {
			l[i] = value(it)
		}
		return l
	case yamltree.Scalar:
		if b, ok := boolean(n); ok && n.Type != yamltree.String {
			return b
		}
		return n.Value
	}
	return nil
}

// Addresses are where a bootloader loads each image for one kernel type.
type Addresses struct {
	Kernel, Ramdisk, DTB, TEE, DTBO string
}

// Addresses returns the load addresses for a kernel type (bootm, booti,
// bootz, zboot, uimage, image, zimage) from the parameters block, and
// whether the device has them.
func (c *Config) Addresses(kind string) (Addresses, bool) {
	m, ok := c.Parameters[kind].(map[string]any)
	if !ok {
		return Addresses{}, false
	}
	s := func(k string) string {
		switch v := m[k].(type) {
		case string:
			return v
		case int64, uint64, float64:
			return fmt.Sprint(v)
		}
		return ""
	}
	return Addresses{Kernel: s("kernel"), Ramdisk: s("ramdisk"), DTB: s("dtb"), TEE: s("tee"), DTBO: s("dtbo")}, true
}

// DeployMethodNames and BootMethodNames list the methods, sorted.
func (c *Config) DeployMethodNames() []string { return slices.Sorted(maps.Keys(c.DeployMethods)) }

// BootMethodNames lists the boot methods the device offers, sorted.
func (c *Config) BootMethodNames() []string { return slices.Sorted(maps.Keys(c.BootMethods)) }
