package devicedict

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/dispatcher/simdevice"
)

// Template names and the variable that makes a device simulated.
const (
	// TemplateQEMU is LAVA's qemu device-type template (qemu.jinja2).
	TemplateQEMU = "qemu"
	// SimulatedVar is the variable that makes a device simulated; its value
	// is the simdevice configuration mapping (none: all defaults).
	SimulatedVar = "simulated"
)

// SupportedTemplates are the device-type templates a dictionary may
// extend.
func SupportedTemplates() []string { return []string{TemplateQEMU} }

// checkCtx carries what a check needs to report a problem.
type checkCtx struct {
	errs     *errList
	fallback srcPos // the variable's position, for values without one
}

func (c *checkCtx) fail(n *node, path, format string, args ...any) {
	if c.errs.full() {
		c.errs.dropped++
		return
	}
	var src srcPos
	if n != nil {
		src = n.src
	}
	c.errs.add(resolve(src.or(c.fallback)), path, fmt.Sprintf(format, args...))
}

// check validates one value; path names it in messages.
type check func(c *checkCtx, n *node, path string)

// schema is the set of variables a template reads.
type schema struct {
	name string // for messages: "template qemu", "a simulated device"
	vars map[string]check
}

func (s *schema) names() []string {
	out := make([]string, 0, len(s.vars)+len(actionTimeouts)+len(connectionTimeouts))
	for k := range s.vars {
		out = append(out, k)
	}
	for _, t := range actionTimeouts {
		out = append(out, ActionTimeoutPrefix+t.suffix)
	}
	for _, t := range connectionTimeouts {
		out = append(out, ConnectionTimeoutPrefix+t.suffix)
	}
	sort.Strings(out)
	return out
}

// lookup returns the check of a variable, including the timeout variables
// every template reads.
func (s *schema) lookup(name string) (check, bool) {
	if ck, ok := s.vars[name]; ok {
		return ck, true
	}
	for _, tt := range []struct {
		prefix string
		table  []timeoutVar
	}{{ActionTimeoutPrefix, actionTimeouts}, {ConnectionTimeoutPrefix, connectionTimeouts}} {
		if suffix, ok := strings.CutPrefix(name, tt.prefix); ok {
			for _, t := range tt.table {
				if t.suffix == suffix {
					return intIn(1, 1_000_000, t.unit), true
				}
			}
		}
	}
	return nil, false
}

// --- checks ---

func str(c *checkCtx, n *node, path string) {
	if n.kind != strNode {
		c.fail(n, path, "expected a string, got %s", n.describe())
	}
}

func nonEmpty(c *checkCtx, n *node, path string) {
	switch {
	case n.kind != strNode:
		c.fail(n, path, "expected a string, got %s", n.describe())
	case strings.TrimSpace(n.s) == "":
		c.fail(n, path, "must not be empty")
	}
}

func boolean(c *checkCtx, n *node, path string) {
	if n.kind != boolNode {
		c.fail(n, path, "expected true or false, got %s", n.describe())
	}
}

// intValue reads an integer node (an integral float counts: JSON contexts
// carry numbers as floats).
func intValue(n *node) (int, bool) {
	switch n.kind {
	case intNode:
		return n.i, true
	case floatNode:
		if n.f == math.Trunc(n.f) && math.Abs(n.f) < 1<<53 {
			return int(n.f), true
		}
	}
	return 0, false
}

// intIn accepts integers between lo and hi; unit names what they count.
func intIn(lo, hi int, unit string) check {
	return func(c *checkCtx, n *node, path string) {
		what := "an integer"
		if unit != "" {
			what = "an integer number of " + unit
		}
		v, ok := intValue(n)
		switch {
		case !ok:
			c.fail(n, path, "expected %s, got %s", what, n.describe())
		case v < lo || v > hi:
			c.fail(n, path, "must be between %d and %d%s, got %d", lo, hi, unitSuffix(unit), v)
		}
	}
}

func unitSuffix(unit string) string {
	if unit == "" {
		return ""
	}
	return " " + unit
}

func listOf(item check) check {
	return func(c *checkCtx, n *node, path string) {
		if n.kind != listNode {
			c.fail(n, path, "expected a list, got %s", n.describe())
			return
		}
		for i, it := range n.items {
			item(c, it, indexPath(path, i))
		}
	}
}

// strOrList accepts a string or a list of strings, as LAVA's command
// variables and extra_options.
func strOrList(c *checkCtx, n *node, path string) {
	if n.kind == listNode {
		listOf(str)(c, n, path)
		return
	}
	if n.kind != strNode {
		c.fail(n, path, "expected a string or a list of strings, got %s", n.describe())
	}
}

func mapOf(val check) check {
	return func(c *checkCtx, n *node, path string) {
		if n.kind != dictNode {
			c.fail(n, path, "expected a mapping, got %s", n.describe())
			return
		}
		if val == nil {
			return
		}
		for _, e := range n.entries {
			val(c, e.val, keyPath(path, e.key))
		}
	}
}

func scalar(c *checkCtx, n *node, path string) {
	switch n.kind {
	case strNode, intNode, floatNode, boolNode:
	default:
		c.fail(n, path, "expected a string, number or boolean, got %s", n.describe())
	}
}

// oneOf accepts one of the given strings.
func oneOf(what string, values ...string) check {
	return func(c *checkCtx, n *node, path string) {
		if n.kind != strNode {
			c.fail(n, path, "expected %s (a string), got %s", what, n.describe())
			return
		}
		if !slices.Contains(values, n.s) {
			c.fail(n, path, "unknown %s %s%s (one of: %s)", what, strconv.Quote(n.s), didYouMean(n.s, values), strings.Join(values, ", "))
		}
	}
}

var macPattern = regexp.MustCompile(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$`)

func mac(c *checkCtx, n *node, path string) {
	if n.kind != strNode || !macPattern.MatchString(n.s) {
		c.fail(n, path, "expected a MAC address like 52:54:00:12:34:58, got %s", n.describe())
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func environment(c *checkCtx, n *node, path string) {
	if n.kind != dictNode {
		c.fail(n, path, "expected a mapping of variable names to values, got %s", n.describe())
		return
	}
	for _, e := range n.entries {
		if !envName.MatchString(e.key) {
			c.fail(&node{src: e.keySrc}, keyPath(path, e.key), "%s is not an environment variable name (letters, digits and _, not starting with a digit)", strconv.Quote(e.key))
			continue
		}
		scalar(c, e.val, keyPath(path, e.key))
	}
}

func userCommands(c *checkCtx, n *node, path string) {
	if n.kind != dictNode {
		c.fail(n, path, "expected a mapping of command names to {do: …, undo: …}, got %s", n.describe())
		return
	}
	for _, e := range n.entries {
		p := keyPath(path, e.key)
		cmd := e.val
		if cmd.kind != dictNode {
			c.fail(cmd, p, "expected a mapping with do (and optionally undo), got %s", cmd.describe())
			continue
		}
		if _, ok := cmd.get("do"); !ok {
			c.fail(cmd, p, "missing do: the command to run")
		}
		for _, f := range cmd.entries {
			switch f.key {
			case "do":
				nonEmpty(c, f.val, keyPath(p, f.key))
			case "undo":
				str(c, f.val, keyPath(p, f.key))
			default:
				c.fail(&node{src: f.keySrc}, keyPath(p, f.key), "unknown key %s (a user command has do and undo)%s", strconv.Quote(f.key), didYouMean(f.key, []string{"do", "undo"}))
			}
		}
	}
}

// memory accepts MiB as an integer, or a size with an M or G suffix.
func memory(c *checkCtx, n *node, path string) {
	if _, err := memoryMiB(n); err != nil {
		c.fail(n, path, "%v", err)
	}
}

var sizePattern = regexp.MustCompile(`^([0-9]+)\s*([MmGg]?)$`)

// maxMemoryMiB bounds memory (16 TiB).
const maxMemoryMiB = 16 << 20

func memoryMiB(n *node) (int, error) {
	v, ok := intValue(n)
	if !ok && n.kind == strNode {
		if m := sizePattern.FindStringSubmatch(strings.TrimSpace(n.s)); m != nil {
			x, err := strconv.Atoi(m[1])
			if err == nil && x <= maxMemoryMiB {
				v, ok = x, true
				if m[2] == "G" || m[2] == "g" {
					v *= 1024
				}
			}
		}
	}
	switch {
	case !ok:
		return 0, fmt.Errorf("expected a number of MiB (1024) or a size like \"2G\", got %s", n.describe())
	case v < 16 || v > maxMemoryMiB:
		return 0, fmt.Errorf("must be between 16 and %d MiB, got %d", maxMemoryMiB, v)
	}
	return v, nil
}

func model(c *checkCtx, n *node, path string) {
	switch {
	case n.kind != strNode:
		c.fail(n, path, "expected a string like \"model=virtio\", got %s", n.describe())
	case !strings.HasPrefix(n.s, "model="):
		c.fail(n, path, "write the NIC option as LAVA does, e.g. \"model=%s\" (it follows -net nic,), got %s", strings.TrimSpace(n.s), strconv.Quote(n.s))
	}
}

func resultsDir(c *checkCtx, n *node, path string) {
	nonEmpty(c, n, path)
	if n.kind == strNode && strings.Count(n.s, "%s") != 1 {
		c.fail(n, path, "must contain %%s once (replaced by the job id), like /lava-%%s")
	}
}

func port(c *checkCtx, n *node, path string) {
	v, ok := intValue(n)
	if !ok && n.kind == strNode {
		x, err := strconv.Atoi(n.s)
		v, ok = x, err == nil
	}
	if !ok || v < 1 || v > 65535 {
		c.fail(n, path, "expected a TCP port number (1–65535), got %s", n.describe())
	}
}

func connectionTags(c *checkCtx, n *node, path string) {
	mapOf(strOrList)(c, n, path)
}

// simulated checks the simulated: mapping with simdevice's own rules, each
// problem at its key.
func simulated(c *checkCtx, n *node, path string) {
	if n.kind == nullNode {
		return
	}
	if n.kind != dictNode {
		c.fail(n, path, "expected a mapping of simulated-device settings (or none for the defaults), got %s", n.describe())
		return
	}
	known := simdevice.DictionaryKeys()
	m := map[string]any{}
	for _, e := range n.entries {
		if !slices.Contains(known, e.key) {
			c.fail(&node{src: e.keySrc}, keyPath(path, e.key), "unknown key %s for a simulated device%s (one of: %s)",
				strconv.Quote(e.key), didYouMean(e.key, known), strings.Join(known, ", "))
			continue
		}
		m[e.key] = e.val.value()
	}
	_, err := simdevice.ParseConfig(m)
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *simdevice.FieldError
		if errors.As(e, &fe) {
			v, ok := n.get(fe.Key)
			if !ok {
				v = n
			}
			c.fail(v, keyPath(path, fe.Key), "%s", fe.Msg)
			continue
		}
		c.fail(n, path, "%v", e)
	}
}

// --- the templates ---

// commandVars are base.jinja2's command variables: a string or a list of
// strings each.
var commandVars = []string{
	"power_on_command", "power_off_command", "hard_reset_command", "soft_reset_command",
	"soft_reboot_command", "pre_power_command", "pre_os_command", "recovery_mode_command",
	"recovery_exit_command",
}

// baseVars are the variables base.jinja2 reads, which every template
// accepts.
var baseVars = func() map[string]check {
	m := map[string]check{
		// connections and commands
		"connection_command":  nonEmpty,
		"connection_list":     listOf(nonEmpty),
		"connection_commands": mapOf(nonEmpty),
		"connection_tags":     connectionTags,
		"must_use_connection": boolean,
		"user_commands":       userCommands,
		// what the test shell sees
		"environment":  environment,
		"device_info":  listOf(mapOf(nil)),
		"static_info":  listOf(mapOf(nil)),
		"storage_info": listOf(mapOf(nil)),
		"device_ip":    nonEmpty,
		"device_mac":   mac,
		// character delays (milliseconds)
		"deploy_character_delay": intIn(0, 10_000, "milliseconds"),
		"boot_character_delay":   intIn(0, 10_000, "milliseconds"),
		"test_character_delay":   intIn(0, 10_000, "milliseconds"),
		// constants
		"lava_test_sh_cmd":      nonEmpty,
		"lava_test_results_dir": resultsDir,
		"lava_test_shell_file":  nonEmpty,
		"default_shell_prompt":  nonEmpty,
		"kernel_start_message":  str,
		"shutdown_message":      str,
		"spawn_maxread":         intIn(1, 1<<20, "bytes"),
		"failure_retry":         intIn(1, 100, ""),
		"boot_retry":            intIn(0, 100, ""),
		// bootloader constants
		"bootloader_prompt":               str,
		"uboot_autoboot_prompt":           str,
		"uboot_interrupt_character":       str,
		"uboot_interrupt_newline":         boolean,
		"uboot_final_message":             str,
		"uboot_error_messages":            listOf(str),
		"uboot_extra_error_message":       str,
		"interrupt_ctrl_list":             listOf(str),
		"dfu_download":                    str,
		"barebox_autoboot_prompt":         str,
		"barebox_interrupt_character":     str,
		"barebox_final_message":           str,
		"grub_autoboot_prompt":            str,
		"grub_interrupt_character":        str,
		"grub_interrupt_newline":          boolean,
		"ipxe_autoboot_prompt":            str,
		"ipxe_interrupt_ctrl_list":        listOf(str),
		"depthcharge_final_message":       str,
		"depthcharge_error_messages":      listOf(str),
		"depthcharge_extra_error_message": str,
		// kernel command line
		"base_kernel_args":   str,
		"extra_kernel_args":  str,
		"kernel_loglevel":    intIn(0, 8, ""),
		"extra_nfsroot_args": str,
		"base_ip_args":       str,
		"static_ip":          nonEmpty,
		"static_gateway":     nonEmpty,
		"static_netmask":     nonEmpty,
		"static_dns":         nonEmpty,
		// ssh
		"ssh_user":          nonEmpty,
		"ssh_port":          port,
		"ssh_identity_file": nonEmpty,
		// read by LAVA's "manage sync", accepted and not used
		"sync_to_lava": mapOf(nil),
	}
	for _, name := range commandVars {
		m[name] = strOrList
	}
	return m
}()

// qemuArchitectures are qemu.jinja2's available_architectures.
var qemuArchitectures = []string{
	"arm64", "arm", "aarch64", "amd64", "x86_64", "hppa", "i386", "mips", "mipsel", "mips64",
	"nios2", "ppc", "ppc64", "riscv64", "sparc", "sparc64",
	// qemu-system-misc
	"alpha", "cris", "lm32", "m68k", "microblaze", "microblazeel", "moxie", "or32", "s390x",
	"sh4", "sh4eb", "tricore", "unicore32", "xtensa", "xtensaeb",
}

// guestFSInterfaces are QEMU's -drive if= values.
var guestFSInterfaces = []string{"ide", "scsi", "sd", "mtd", "floppy", "pflash", "virtio", "none"}

// qemuVars are the variables of qemu.jinja2, plus Basalt's cpus.
var qemuVars = map[string]check{
	"arch":              oneOf("architecture", qemuArchitectures...),
	"machine":           nonEmpty,
	"cpu":               nonEmpty,
	"memory":            memory,
	"cpus":              intIn(1, 1024, "CPUs"),
	"netdevice":         nonEmpty,
	"model":             model,
	"mac_addr":          mac,
	"monitor":           nonEmpty,
	"vga":               str,
	"serial":            str,
	"extra_options":     strOrList,
	"no_kvm":            boolean,
	"no_network":        boolean,
	"boot_root":         nonEmpty,
	"boot_console":      nonEmpty,
	"console_device":    nonEmpty,
	"guestfs_size":      intIn(1, 16<<20, "MiB"),
	"guestfs_interface": oneOf("drive interface", guestFSInterfaces...),
	"guestfs_driveid":   nonEmpty,
}

func merge(maps ...map[string]check) map[string]check {
	out := map[string]check{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

var (
	qemuSchema      = &schema{name: "template qemu", vars: merge(baseVars, qemuVars)}
	simulatedSchema = &schema{name: "a simulated device", vars: merge(baseVars, map[string]check{SimulatedVar: simulated})}
	templates       = map[string]*schema{TemplateQEMU: qemuSchema}
)

// Variables returns the variables a template accepts (sorted; the
// simulated device is named "simulated"), or nil for an unknown template.
func Variables(template string) []string {
	switch template {
	case KindSimulated:
		return simulatedSchema.names()
	case TemplateQEMU:
		return qemuSchema.names()
	}
	return nil
}

// Validate checks the dictionary for a device of type deviceType: the
// template must be supported (and be qemu on a qemu device), every variable
// must be one the template reads, with a value of the right type and
// range. A dictionary that sets simulated is a simulated device whatever
// its type and template. Every problem is reported, as *Errors. An empty
// dictionary is valid.
func (d *Dict) Validate(deviceType string) error {
	if d == nil || (len(d.Vars) == 0 && d.Template == "") {
		return nil
	}
	var errs errList
	c := &checkCtx{errs: &errs}
	s := simulatedSchema
	if _, sim := d.Lookup(SimulatedVar); !sim {
		tmpl := d.template(deviceType)
		tp := resolve(d.templateSrc)
		var ok bool
		s, ok = templates[tmpl]
		switch {
		case deviceType == TemplateQEMU && tmpl != TemplateQEMU:
			errs.add(tp, "", fmt.Sprintf("the dictionary extends %s but the device type is %s: a qemu device extends qemu", strconv.Quote(tmpl), strconv.Quote(deviceType)))
			return errs.result()
		case tmpl == "":
			errs.add(tp, "", "the dictionary names no template: add extends: qemu (or {% extends 'qemu.jinja2' %})")
			return errs.result()
		case !ok:
			errs.add(tp, "", fmt.Sprintf("device type template %s is not supported yet (supported: %s)", strconv.Quote(tmpl), strings.Join(SupportedTemplates(), ", ")))
			return errs.result()
		}
	}
	for _, v := range d.Vars {
		p := varPath(v.Name)
		c.fallback = lineCol(v.Line, v.Column)
		ck, ok := s.lookup(v.Name)
		if !ok && c.errs.full() {
			c.errs.dropped++
			continue
		}
		if !ok {
			c.fail(nil, p, "unknown variable %s for %s%s", strconv.Quote(v.Name), s.name, didYouMean(v.Name, append(s.names(), SimulatedVar)))
			continue
		}
		n := v.n
		if n == nil {
			n = fromValue(v.Value, 0)
		}
		if n.kind == nullNode && v.Name != SimulatedVar {
			continue // none: as if not set
		}
		ck(c, n, p)
	}
	return errs.result()
}
