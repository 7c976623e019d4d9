package devicedict

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/shellwords"
)

// KVMMode says whether a QEMU device runs with KVM.
type KVMMode int

// KVM modes.
const (
	// KVMAuto uses KVM when /dev/kvm can be opened: the rendered options
	// ask for it (-enable-kvm), no_kvm is not set and the guest is x86.
	KVMAuto KVMMode = iota
	// KVMOn always uses KVM (no_kvm: false, and the options ask for it).
	KVMOn
	// KVMOff never uses KVM (the options do not ask for it, or an
	// architecture KVM cannot run here while no_kvm is not set).
	KVMOff
)

// String names the mode.
func (m KVMMode) String() string {
	switch m {
	case KVMOn:
		return "on"
	case KVMOff:
		return "off"
	}
	return "auto"
}

// QEMU is how to run a qemu device: the qemu boot method of its rendered
// configuration (actions.boot.methods.qemu.parameters: command, options,
// extra, boot_options), as LAVA's dispatcher reads it, and what Basalt
// adds from the dictionary's variables.
type QEMU struct {
	// Binary is the QEMU program (parameters.command).
	Binary string
	// Arch is the guest architecture (arch; DefaultArch when unset).
	Arch string
	// Options are parameters.options then parameters.extra, each split
	// like a shell into words, as LAVA joins them into its command line.
	Options []string
	// KVM says when to keep the KVM options (KVMOptions) in Options.
	KVM KVMMode
	// BootConsole is the kernel's console= (boot_options.console, with
	// LAVA's "ttyAMA0 115200" read as ttyAMA0,115200).
	BootConsole string
	// ExtraKernelArgs are appended to the kernel command line
	// (extra_kernel_args, and loglevel=N for kernel_loglevel).
	ExtraKernelArgs string
}

// KVMOptions are the words of the rendered options that only make sense
// under KVM: "-enable-kvm", and "-cpu host" (a pair).
var KVMOptions = []string{"-enable-kvm", "-cpu host"}

// DefaultArch is the architecture when neither the dictionary nor the job's
// context sets arch. LAVA's template has none (its jobs must set it);
// Basalt's is amd64, put into the context of qemu renders (Renderer).
const DefaultArch = "amd64"

// x86Archs are the guest architectures KVM runs on an x86 worker.
var x86Archs = []string{"amd64", "x86_64", "i386"}

// QEMUConfig reads how to run a qemu device from its rendered
// configuration rc and its effective variables vars (Dict.Resolve with the
// job's context). Variables of the wrong type or range — possible from
// the job's context, which the upload check did not see — are errors, as
// is a configuration without a usable qemu boot method; every problem is
// reported.
func QEMUConfig(rc *deviceconfig.Config, vars map[string]any) (QEMU, error) {
	var errs errList
	c := &checkCtx{errs: &errs}
	for _, name := range sortedKeys(qemuVars) {
		if v, ok := vars[name]; ok && v != nil {
			qemuVars[name](c, fromValue(v, 0), varPath(name))
		}
	}
	for _, name := range []string{"extra_kernel_args", "kernel_loglevel"} {
		if v, ok := vars[name]; ok && v != nil {
			baseVars[name](c, fromValue(v, 0), varPath(name))
		}
	}
	if !errs.empty() {
		msgs := make([]string, 0, len(errs.items))
		for _, e := range errs.items {
			msgs = append(msgs, strings.TrimPrefix(e.Path, "$.")+": "+e.Msg)
		}
		return QEMU{}, errors.New("qemu device: " + strings.Join(msgs, "; "))
	}
	q := QEMU{Arch: strVar(vars, "arch", DefaultArch), ExtraKernelArgs: strVar(vars, "extra_kernel_args", "")}
	if n, ok := intVar(vars, "kernel_loglevel"); ok {
		q.ExtraKernelArgs = strings.TrimSpace(q.ExtraKernelArgs + fmt.Sprintf(" loglevel=%d", n))
	}
	m, ok := rc.BootMethods["qemu"]
	if !ok {
		return QEMU{}, fmt.Errorf("qemu device: its configuration has no qemu boot method (actions.boot.methods.qemu): offers %s", orNone(rc.BootMethodNames()))
	}
	p := m.Parameters
	q.Binary, _ = p["command"].(string)
	q.Binary = strings.TrimSpace(q.Binary)
	if q.Binary == "" || strings.ContainsAny(q.Binary, " \t\n") {
		return QEMU{}, fmt.Errorf("qemu device: actions.boot.methods.qemu.parameters.command is %q: want one QEMU program (is the job's context arch one of the template's architectures?)", q.Binary)
	}
	for _, key := range []string{"options", "extra"} {
		words, err := optionWords(p[key], "actions.boot.methods.qemu.parameters."+key)
		if err != nil {
			return QEMU{}, fmt.Errorf("qemu device: %w", err)
		}
		q.Options = append(q.Options, words...)
	}
	if bo, ok := p["boot_options"].(map[string]any); ok {
		if s, ok := bo["console"].(string); ok {
			// LAVA's arm64 default is "ttyAMA0 115200": the kernel wants a comma.
			q.BootConsole = strings.Replace(strings.TrimSpace(s), " ", ",", 1)
		}
	}
	noKVM, set := vars["no_kvm"].(bool)
	switch {
	case !slices.Contains(q.Options, "-enable-kvm"):
		q.KVM = KVMOff
	case set && !noKVM:
		q.KVM = KVMOn
	case slices.Contains(x86Archs, q.Arch):
		q.KVM = KVMAuto
	default:
		// LAVA's template asks for KVM on every architecture it has no CPU
		// for (riscv64 among them); KVM cannot run those guests on an x86
		// worker, so they run without it unless no_kvm: false insists.
		q.KVM = KVMOff
	}
	return q, nil
}

// optionWords splits a rendered option list (or one string) into words
// like a shell.
func optionWords(v any, path string) ([]string, error) {
	var items []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		items = []any{x}
	case []any:
		items = x
	default:
		return nil, fmt.Errorf("%s: want a list of strings, got %T", path, v)
	}
	var words []string
	for i, it := range items {
		if it == nil {
			continue
		}
		s := fmt.Sprint(it)
		w, err := shellwords.Split(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q: %w", path, i, s, err)
		}
		words = append(words, w...)
	}
	return words, nil
}

// WithoutKVM returns options without the KVMOptions (for a start without
// KVM).
func WithoutKVM(options []string) []string {
	out := make([]string, 0, len(options))
	for i := 0; i < len(options); i++ {
		switch {
		case options[i] == "-enable-kvm":
		case options[i] == "-cpu" && i+1 < len(options) && options[i+1] == "host":
			i++
		default:
			out = append(out, options[i])
		}
	}
	return out
}
