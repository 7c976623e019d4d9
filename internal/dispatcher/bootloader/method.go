package bootloader

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Boot method names (the keys of actions.boot.methods in a device
// configuration, and the prefixes of the bootloader constants).
const (
	UBoot   = "u-boot"
	IPXE    = "ipxe"
	Grub    = "grub"
	GrubEFI = "grub-efi"
	Barebox = "barebox"
)

// Limits on what ParseMethod and Commands accept.
const (
	MaxCommands      = 1000   // commands in one list
	MaxCommandLength = 4096   // bytes in one command
	MaxPatternLength = 1024   // bytes in one prompt or message pattern
	MaxDelay         = 10_000 // milliseconds of character delay
)

// Method is a bootloader boot method as the device configuration gives it
// (actions.boot.methods.<name> and constants.<name>), resolved the way
// LAVA resolves it.
type Method struct {
	// Name is the method: u-boot, ipxe, grub, grub-efi, barebox.
	Name string
	// BootloaderPrompt is the prompt, a regular expression (parameters
	// bootloader_prompt).
	BootloaderPrompt string
	// NeedsInterrupt says whether autoboot must be interrupted
	// (parameters needs_interrupt, default true).
	NeedsInterrupt bool
	// InterruptPrompt is the text announcing the autoboot countdown
	// (parameters interrupt_prompt, else the constant interrupt-prompt).
	InterruptPrompt string
	// InterruptChar is typed to interrupt (parameters interrupt_char, else
	// the constant interrupt-character); never for ipxe.
	InterruptChar string
	// InterruptCtrl lists control characters typed instead, as letters
	// ("c" is Ctrl-C) (parameters or constant interrupt_ctrl_list).
	InterruptCtrl []string
	// InterruptNewline says InterruptChar is followed by a newline
	// (constant interrupt-newline, default true).
	InterruptNewline bool
	// FinalMessage is awaited after the last command when not empty
	// (constant final-message: "Starting kernel" for u-boot and barebox).
	FinalMessage string
	// ErrorMessages are regular expressions that fail the boot when the
	// bootloader prints them (constant error-messages).
	ErrorMessages []string
	// CharacterDelay is the pause after each typed character
	// (character_delays.boot).
	CharacterDelay time.Duration
	// CommandSets are the method's command lists by name (ramdisk, nfs, …).
	CommandSets map[string][]string
	// LavaMac is the MAC address given for {LAVA_MAC} (parameters lava_mac).
	LavaMac string
}

// ParseMethod reads boot method name from a rendered device configuration
// (the YAML decoded into maps, lists and scalars). It fails when the
// method is missing or has no bootloader prompt, or a value has the wrong
// type.
func ParseMethod(device map[string]any, name string) (Method, error) {
	m := Method{Name: name, NeedsInterrupt: true, InterruptNewline: true, CommandSets: map[string][]string{}}
	methods, err := mapAt(device, "actions", "boot", "methods")
	if err != nil {
		return m, err
	}
	raw, ok := methods[name]
	if !ok {
		return m, jobErrorf("the device has no %q boot method (actions.boot.methods has %s)", name, keyList(methods))
	}
	body, _ := raw.(map[string]any)
	params, _ := body["parameters"].(map[string]any)
	if params == nil {
		return m, jobErrorf("boot method %s: no parameters", name)
	}
	constants, _ := device["constants"].(map[string]any)
	consts, _ := constants[name].(map[string]any)

	if m.BootloaderPrompt, err = stringAt(params, "bootloader_prompt", name+" parameters"); err != nil {
		return m, err
	}
	if m.BootloaderPrompt == "" {
		return m, jobErrorf("boot method %s: missing bootloader prompt (parameters bootloader_prompt)", name)
	}
	if v, ok := params["needs_interrupt"]; ok {
		if m.NeedsInterrupt, err = boolValue(v, name+" parameters needs_interrupt"); err != nil {
			return m, err
		}
	}
	if m.InterruptPrompt, err = firstString(params, "interrupt_prompt", consts, "interrupt-prompt", name); err != nil {
		return m, err
	}
	if name != IPXE {
		if m.InterruptChar, err = firstString(params, "interrupt_char", consts, "interrupt-character", name); err != nil {
			return m, err
		}
	}
	ctrl, ok := params["interrupt_ctrl_list"]
	if !ok {
		ctrl = consts["interrupt_ctrl_list"]
	}
	if m.InterruptCtrl, err = stringList(ctrl, name+" interrupt_ctrl_list"); err != nil {
		return m, err
	}
	for _, c := range m.InterruptCtrl {
		if _, err := controlChar(c); err != nil {
			return m, err
		}
	}
	if v, ok := consts["interrupt-newline"]; ok && v != nil {
		if m.InterruptNewline, err = boolValue(v, "constants "+name+" interrupt-newline"); err != nil {
			return m, err
		}
	}
	if m.FinalMessage, err = stringAt(consts, "final-message", "constants "+name); err != nil {
		return m, err
	}
	if m.ErrorMessages, err = stringList(consts["error-messages"], "constants "+name+" error-messages"); err != nil {
		return m, err
	}
	if delays, ok := device["character_delays"].(map[string]any); ok {
		if v, ok := delays["boot"]; ok && v != nil {
			ms, err := intValue(v, "character_delays boot")
			if err != nil {
				return m, err
			}
			if ms < 0 || ms > MaxDelay {
				return m, jobErrorf("character_delays boot: %d ms is outside 0..%d", ms, MaxDelay)
			}
			m.CharacterDelay = time.Duration(ms) * time.Millisecond
		}
	}
	if m.LavaMac, err = stringAt(params, "lava_mac", name+" parameters"); err != nil {
		return m, err
	}
	for key, v := range body {
		set, ok := v.(map[string]any)
		if key == "parameters" || !ok {
			continue
		}
		cmds, ok := set["commands"]
		if !ok {
			continue
		}
		list, err := stringList(cmds, fmt.Sprintf("boot method %s command set %s", name, key))
		if err != nil {
			return m, err
		}
		m.CommandSets[key] = list
	}
	for _, p := range append([]string{m.BootloaderPrompt, m.InterruptPrompt, m.FinalMessage}, m.ErrorMessages...) {
		if len(p) > MaxPatternLength {
			return m, jobErrorf("boot method %s: a pattern is %d bytes long (at most %d)", name, len(p), MaxPatternLength)
		}
	}
	return m, nil
}

// Commands returns the command list a job chose: choice is the job's
// commands value, the name of one of m's command sets or an inline list of
// strings (as LAVA, a list in the job replaces the device's sets).
func (m Method) Commands(choice any) ([]string, error) {
	switch c := choice.(type) {
	case string:
		set, ok := m.CommandSets[c]
		if !ok {
			return nil, jobErrorf("command set %q not found in boot method %s (it has %s)", c, m.Name, strings.Join(sortedKeys(m.CommandSets), ", "))
		}
		if len(set) == 0 {
			return nil, jobErrorf("command set %q of boot method %s has no commands", c, m.Name)
		}
		return checkCommands(append([]string(nil), set...))
	case []string:
		return checkCommands(append([]string(nil), c...))
	case []any:
		list, err := stringList(c, "the job's commands")
		if err != nil {
			return nil, err
		}
		return checkCommands(list)
	case nil:
		return nil, jobErrorf("missing commands (the name of a command set of boot method %s, or a list)", m.Name)
	default:
		return nil, jobErrorf("commands: want a command set name or a list of strings, not %T", choice)
	}
}

func checkCommands(list []string) ([]string, error) {
	if len(list) > MaxCommands {
		return nil, jobErrorf("%d bootloader commands (at most %d)", len(list), MaxCommands)
	}
	for i, c := range list {
		if len(c) > MaxCommandLength {
			return nil, jobErrorf("bootloader command %d is %d bytes long (at most %d)", i+1, len(c), MaxCommandLength)
		}
		if strings.ContainsAny(c, "\r\n") {
			return nil, jobErrorf("bootloader command %d %s holds a line break", i+1, quote(c))
		}
	}
	return list, nil
}

// controlChar is the byte pexpect's sendcontrol sends for c: a letter gives
// Ctrl-<letter>, and @ [ \ ] ^ _ ? their control codes.
func controlChar(c string) (byte, error) {
	if len(c) == 1 {
		b := c[0]
		switch {
		case b >= 'a' && b <= 'z':
			return b - 'a' + 1, nil
		case b >= 'A' && b <= 'Z':
			return b - 'A' + 1, nil
		}
		if strings.IndexByte("@[\\]^_", b) >= 0 {
			return b & 0x1f, nil
		}
		if b == '?' {
			return 127, nil
		}
	}
	return 0, jobErrorf("interrupt_ctrl_list: %s is not a control character name (a letter, or one of @[\\]^_?)", quote(c))
}

func mapAt(m map[string]any, keys ...string) (map[string]any, error) {
	cur := m
	for i, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil, jobErrorf("device configuration: no %s", strings.Join(keys[:i+1], "."))
		}
		cur = next
	}
	return cur, nil
}

func stringAt(m map[string]any, key, where string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	return scalarString(v, where+" "+key)
}

func firstString(params map[string]any, pkey string, consts map[string]any, ckey, name string) (string, error) {
	if v, ok := params[pkey]; ok && v != nil {
		return scalarString(v, name+" parameters "+pkey)
	}
	return stringAt(consts, ckey, "constants "+name)
}

// scalarString renders a YAML scalar as LAVA would use it (prompts such as
// => or numbers-only strings may decode as other types).
func scalarString(v any, where string) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	}
	return "", jobErrorf("%s: want a string, not %T", where, v)
}

func stringList(v any, where string) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []string:
		return x, nil
	case []any:
		if len(x) > MaxCommands {
			return nil, jobErrorf("%s: %d entries (at most %d)", where, len(x), MaxCommands)
		}
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, err := scalarString(e, fmt.Sprintf("%s entry %d", where, i+1))
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, jobErrorf("%s: want a list, not %T", where, v)
}

func boolValue(v any, where string) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(x) {
		case "true", "yes", "on":
			return true, nil
		case "false", "no", "off":
			return false, nil
		}
	}
	return false, jobErrorf("%s: want true or false, not %v", where, v)
}

func intValue(v any, where string) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case uint64:
		if x > MaxDelay {
			return MaxDelay + 1, nil
		}
		return int(x), nil
	case float64:
		if x == float64(int(x)) {
			return int(x), nil
		}
	case string:
		if n, err := strconv.Atoi(x); err == nil {
			return n, nil
		}
	}
	return 0, jobErrorf("%s: want a whole number, not %v", where, v)
}

func keyList(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// quote shows s in a message, shortened.
func quote(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// ForJob resolves a job's boot method as LAVA does: the generic
// "bootloader" method names the device's bootloader method in its
// bootloader parameter, takes its commands from the job, and stays at the
// prompt after the last one (expectFinal false); any other method is the
// device's method of that name and waits for its final message.
func ForJob(jobMethod, bootloaderParam string) (method string, expectFinal bool, err error) {
	if jobMethod == "bootloader" {
		if bootloaderParam == "" {
			return "", false, jobErrorf("boot method bootloader needs the bootloader parameter (u-boot, ipxe, grub, barebox, …)")
		}
		return bootloaderParam, false, nil
	}
	if jobMethod == "" {
		return "", false, jobErrorf("missing boot method")
	}
	return jobMethod, true, nil
}
