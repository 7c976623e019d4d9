package jobdef

import "strings"

// Boot is a boot action. Method is a supported method; Prompts is
// optional, as in LAVA: without prompts a boot does not wait for a shell
// (and does not log in). Commands and CommandSet are exclusive: a list of
// bootloader commands (possibly empty) or the name of a set defined by the
// device.
type Boot struct {
	Method string `json:"method"`
	// Media is qemu's media (tmpfs); empty for other methods.
	Media     string     `json:"media,omitempty"`
	Prompts   []string   `json:"prompts"`
	AutoLogin *AutoLogin `json:"auto_login,omitempty"`
	Commands  []string   `json:"commands,omitempty"`
	// CommandSet names a device-defined command list (commands: <name>).
	CommandSet           string           `json:"command_set,omitempty"`
	Parameters           *BootParameters  `json:"parameters,omitempty"`
	SoftReboot           []string         `json:"soft_reboot,omitempty"`
	IgnoreKernelMessages bool             `json:"ignore_kernel_messages,omitempty"`
	TransferOverlay      *TransferOverlay `json:"transfer_overlay,omitempty"`
	// Connection is the device's connection the boot uses: for
	// new_connection (required there), the name of the secondary
	// connection it opens (commands.connections.<name> of the device).
	Connection string `json:"connection,omitempty"`
	// Reset is minimal's reset flag (nil: device default, power-cycle).
	Reset *bool `json:"reset,omitempty"`
	// PrePowerCommand and PreOSCommand ask minimal to run the device's
	// pre_power_command and pre_os_command before the reset (LAVA's
	// PrePower and PreOs actions).
	PrePowerCommand bool `json:"pre_power_command,omitempty"`
	PreOSCommand    bool `json:"pre_os_command,omitempty"`
	// Bootloader is the generic bootloader method's bootloader: the name
	// of the device's boot method whose constants and prompt it uses.
	Bootloader string `json:"bootloader,omitempty"`
	// ExpectShell is grub's expect_shell (nil: true): wait for the
	// bootloader's prompt before typing.
	ExpectShell *bool `json:"expect_shell,omitempty"`
	// BootFinished are grub's boot_finished messages.
	BootFinished []string `json:"boot_finished,omitempty"`
}

// BootloaderMethods are the boot methods driven through a bootloader's
// console commands.
var BootloaderMethods = []string{"barebox", "bootloader", "grub", "ipxe", "u-boot"}

// AutoLogin is a boot action's auto_login block. LoginPrompt and Username
// are set; PasswordPrompt and Password are both set or both empty.
type AutoLogin struct {
	LoginPrompt    string   `json:"login_prompt"`
	Username       string   `json:"username"`
	PasswordPrompt string   `json:"password_prompt,omitempty"`
	Password       string   `json:"password,omitempty"`
	LoginCommands  []string `json:"login_commands,omitempty"`
}

// BootParameters overrides the messages the boot action waits for.
type BootParameters struct {
	BootloaderFinalMessage string `json:"bootloader_final_message,omitempty"`
	KernelStartMessage     string `json:"kernel_start_message,omitempty"`
	ShutdownMessage        string `json:"shutdown_message,omitempty"`
}

// TransferOverlay says how to bring the LAVA overlay onto a booted DUT that
// was deployed without it: download and unpack with shell commands, or
// TransferMethod zmodem over the serial line. UnpackCommand is always set;
// DownloadCommand is set unless TransferMethod is zmodem.
type TransferOverlay struct {
	DownloadCommand string `json:"download_command,omitempty"`
	UnpackCommand   string `json:"unpack_command"`
	TransferMethod  string `json:"transfer_method,omitempty"`
}

// bootMethods are LAVA's 33 boot methods.
var bootMethods = []string{
	"avh", "barebox", "bootloader", "cmsis-dap", "depthcharge", "dfu", "docker", "fastboot",
	"fvp", "gdb", "grub", "grub-efi", "ipxe", "jlink", "kexec", "minimal", "monitor", "musca",
	"new_connection", "nodebooter", "openocd", "pyocd", "qdl", "qemu", "qemu-iso", "qemu-nfs",
	"recovery", "schroot", "ssh", "u-boot", "uefi", "uefi-menu", "uuu",
}

var supportedBoot = []string{"barebox", "bootloader", "grub", "ipxe", "minimal", "new_connection", "qemu", "u-boot"}

// removedBoot are boot methods LAVA no longer has.
var removedBoot = map[string]string{"lxc": "LAVA dropped LXC in 2026.04"}

// bootRefused are keys of LAVA's boot methods that Basalt does not run,
// by method, with the reason: ignoring them would change the job.
var bootRefused = map[string]map[string]string{
	"qemu": {"docker": "running QEMU in a docker container (docker) is not supported"},
}

// NewConnection is the boot method that opens a secondary connection of
// the device (LAVA's new_connection): its boot action makes the named
// connection the one of its namespace.
const NewConnection = "new_connection"

var bootKeys = []string{
	"method", "prompts", "auto_login", "commands", "parameters", "soft_reboot",
	"ignore_kernel_messages", "transfer_overlay", "connection",
}

// newConnectionKeys are new_connection's keys (LAVA's schema: no
// bootloader commands).
var newConnectionKeys = []string{
	"method", "connection", "prompts", "auto_login", "parameters", "soft_reboot",
	"ignore_kernel_messages", "transfer_overlay",
}

func (d *decoder) boot(m *mapping) *Boot {
	b := &Boot{}
	v, ok := d.require(m, "method")
	if !ok {
		return b
	}
	method, ok := d.str(v, m.sub("method"))
	if !ok {
		return b
	}
	if !contains(supportedBoot, method) {
		if why, ok := removedBoot[method]; ok {
			d.errorf(v.pos, m.sub("method"), "boot method %q is not supported (%s; supported: %s)", method, why, strings.Join(supportedBoot, ", "))
		} else if contains(bootMethods, method) {
			d.errorf(v.pos, m.sub("method"), "boot method %q is not supported (supported: %s)", method, strings.Join(supportedBoot, ", "))
		} else {
			d.errorf(v.pos, m.sub("method"), "unknown boot method %q (supported: %s)", truncate(method, 60), strings.Join(supportedBoot, ", "))
		}
		return b
	}
	b.Method = method
	allowed := keys(bootKeys...)
	switch method {
	case "qemu":
		allowed = append(allowed, "media")
		if v, ok := m.get("media"); ok {
			s, ok := d.str(v, m.sub("media"))
			switch {
			case !ok:
			case s == "tmpfs":
				b.Media = s
			case s == "nfs":
				d.errorf(v.pos, m.sub("media"), "qemu media %q is not supported (supported: tmpfs)", s)
			default:
				d.errorf(v.pos, m.sub("media"), "unknown qemu media %q (supported: tmpfs)", truncate(s, 60))
			}
		}
	case NewConnection:
		allowed = keys(newConnectionKeys...)
		if _, ok := m.get("connection"); !ok {
			d.errorf(m.n.pos, m.path, "missing required key %q (the name of the device's connection to open, from its connection_list)", "connection")
		}
	case "minimal":
		allowed = append(allowed, "reset", "pre_power_command", "pre_os_command")
		if v, ok := m.get("reset"); ok {
			b.Reset = d.boolPtr(v, m.sub("reset"))
		}
		if v, ok := m.get("pre_power_command"); ok {
			b.PrePowerCommand, _ = d.boolean(v, m.sub("pre_power_command"))
		}
		if v, ok := m.get("pre_os_command"); ok {
			b.PreOSCommand, _ = d.boolean(v, m.sub("pre_os_command"))
		}
	}
	bootloader := contains(BootloaderMethods, method)
	if bootloader {
		d.bootloaderKeys(m, b, &allowed)
	}
	_, hasPrompts := m.get("prompts")
	if v, ok := m.get("prompts"); ok {
		b.Prompts, _ = d.strOrList(v, m.sub("prompts"))
	}
	if v, ok := m.get("auto_login"); ok {
		b.AutoLogin = d.autoLogin(v, m.sub("auto_login"))
		if !hasPrompts {
			// LAVA logs in only when the boot has prompts.
			d.lenient(m.keyPos("auto_login"), m.sub("auto_login"),
				"auto_login is ignored: the boot has no prompts, so it does not wait for a login (as in LAVA); add prompts to log in",
				"auto_login needs prompts (the shell prompt to wait for after the login)")
			b.AutoLogin = nil
		}
	}
	if v, ok := m.get("commands"); ok && method != NewConnection {
		p := m.sub("commands")
		if v.kind == seqNode {
			// LAVA accepts an empty list: the bootloader is
			// interrupted and nothing is typed.
			if len(v.items) > 0 {
				b.Commands, _ = d.nonEmptyList(v, p)
			}
		} else if v.kind == scalarNode && v.styp == strScalar && v.text != "" {
			b.CommandSet = v.text
		} else {
			d.expected(v, p, "a list of commands or the name of a command set")
		}
	}
	if v, ok := m.get("parameters"); ok {
		b.Parameters = d.bootParameters(v, m.sub("parameters"))
	}
	if v, ok := m.get("soft_reboot"); ok {
		b.SoftReboot, _ = d.strOrList(v, m.sub("soft_reboot"))
	}
	if v, ok := m.get("ignore_kernel_messages"); ok {
		b.IgnoreKernelMessages, _ = d.boolean(v, m.sub("ignore_kernel_messages"))
	}
	if v, ok := m.get("transfer_overlay"); ok {
		b.TransferOverlay = d.transferOverlay(v, m.sub("transfer_overlay"))
	}
	if v, ok := m.get("connection"); ok {
		b.Connection, _ = d.nonEmpty(v, m.sub("connection"), 0)
	}
	d.extraKeys(m, allowed, bootRefused[method])
	return b
}

// bootloaderKeys reads the keys of the bootloader methods (LAVA's u-boot,
// ipxe, grub, barebox and bootloader schemas): commands is required except
// for bootloader, which names its bootloader instead. Without prompts the
// boot ends once the kernel has started.
func (d *decoder) bootloaderKeys(m *mapping, b *Boot, allowed *[]string) {
	*allowed = append(*allowed, "reset", "use_bootscript")
	if _, ok := m.get("commands"); !ok && b.Method != "bootloader" {
		d.errorf(m.n.pos, m.path, "missing required key %q (the bootloader commands: a command set of the device, such as ramdisk, or a list)", "commands")
	}
	if v, ok := m.get("reset"); ok {
		b.Reset = d.boolPtr(v, m.sub("reset"))
	}
	if v, ok := m.get("use_bootscript"); ok {
		if on, ok := d.boolean(v, m.sub("use_bootscript")); ok && on {
			d.errorf(v.pos, m.sub("use_bootscript"), "boot scripts (use_bootscript: true) are not supported yet: the commands are typed on the console")
		}
	}
	switch b.Method {
	case "bootloader":
		*allowed = append(*allowed, "bootloader", "reset_connection", "reset_device")
		if v, ok := d.require(m, "bootloader"); ok {
			b.Bootloader, _ = d.nonEmpty(v, m.sub("bootloader"), 0)
		}
		for _, k := range []string{"reset_connection", "reset_device"} {
			if v, ok := m.get(k); ok {
				d.boolean(v, m.sub(k))
			}
		}
	case "grub":
		*allowed = append(*allowed, "expect_shell", "boot_finished")
		if v, ok := m.get("expect_shell"); ok {
			b.ExpectShell = d.boolPtr(v, m.sub("expect_shell"))
		}
		if v, ok := m.get("boot_finished"); ok {
			b.BootFinished, _ = d.strOrList(v, m.sub("boot_finished"))
		}
	}
}

func (d *decoder) autoLogin(n *node, path string) *AutoLogin {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	a := &AutoLogin{}
	for _, f := range []struct {
		key      string
		dst      *string
		required bool
	}{
		{"login_prompt", &a.LoginPrompt, true},
		{"username", &a.Username, true},
		{"password_prompt", &a.PasswordPrompt, false},
		{"password", &a.Password, false},
	} {
		var v *node
		var ok bool
		if f.required {
			v, ok = d.require(m, f.key)
		} else {
			v, ok = m.get(f.key)
		}
		if ok {
			*f.dst, _ = d.nonEmpty(v, m.sub(f.key), 0)
		}
	}
	_, hasPP := m.get("password_prompt")
	_, hasP := m.get("password")
	if hasPP != hasP {
		missing := "password"
		if hasP {
			missing = "password_prompt"
		}
		d.errorf(n.pos, path, "password_prompt and password go together: %s is missing", missing)
	}
	if v, ok := m.get("login_commands"); ok {
		a.LoginCommands, _ = d.nonEmptyList(v, m.sub("login_commands"))
	}
	d.unknownKeys(m, []string{"login_prompt", "username", "password_prompt", "password", "login_commands"})
	return a
}

func (d *decoder) bootParameters(n *node, path string) *BootParameters {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	p := &BootParameters{}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"bootloader-final-message", &p.BootloaderFinalMessage},
		{"kernel-start-message", &p.KernelStartMessage},
		{"shutdown-message", &p.ShutdownMessage},
	} {
		if v, ok := m.get(f.key); ok {
			*f.dst, _ = d.nonEmpty(v, m.sub(f.key), 0)
		}
	}
	d.extraKeys(m, []string{"bootloader-final-message", "kernel-start-message", "shutdown-message"}, nil)
	return p
}

func (d *decoder) transferOverlay(n *node, path string) *TransferOverlay {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	t := &TransferOverlay{}
	if v, ok := m.get("transfer_method"); ok {
		t.TransferMethod, _ = d.enum(v, m.sub("transfer_method"), "transfer method", "zmodem")
	}
	if v, ok := d.require(m, "unpack_command"); ok {
		t.UnpackCommand, _ = d.nonEmpty(v, m.sub("unpack_command"), 0)
	}
	if v, ok := m.get("download_command"); ok {
		t.DownloadCommand, _ = d.nonEmpty(v, m.sub("download_command"), 0)
	} else if _, zmodem := m.get("transfer_method"); !zmodem {
		d.errorf(n.pos, path, "missing required key %q (or transfer_method: zmodem)", "download_command")
	}
	d.extraKeys(m, []string{"download_command", "unpack_command", "transfer_method"}, nil)
	return t
}
