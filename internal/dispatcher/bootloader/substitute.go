package bootloader

import (
	"regexp"
	"sort"
	"strings"
)

// The placeholders LAVA's bootloader command sets use, in the order LAVA
// substitutes them (a value is never itself a placeholder, but a fixed
// order keeps Substitute deterministic if one were).
var placeholderOrder = []string{
	"{SERVER_IP}", "{PRESEED_CONFIG}", "{PRESEED_LOCAL}", "{DTB}", "{RAMDISK}", "{INITRD}",
	"{KERNEL}", "{LAVA_MAC}", "{TEE}", "{DTB_BASE_ADDR}", "{DTB_BASE_RESIZE}",
	"{APPLY_DTBO_COMMANDS}", "{LAVA_DISPATCHER_IP}", "{LAVA_JOB_ID}", "{BOOTX}",
	"{KERNEL_ADDR}", "{DTB_ADDR}", "{RAMDISK_ADDR}", "{TEE_ADDR}", "{NFSROOTFS}",
	"{NFS_SERVER_IP}", "{NBDSERVERIP}", "{NBDSERVERPORT}", "{ROOT}", "{ROOT_PART}",
}

// Addresses are the load addresses of one boot command (parameters.bootz,
// parameters.booti, … of the device configuration).
type Addresses struct {
	Kernel, Ramdisk, DTB, Tee, DTBO string
}

// Inputs are what the deployment and the device give the substitutions.
// File names are paths relative to the TFTP root, as the bootloader asks
// the server for them; an empty name means the job deployed no such file.
type Inputs struct {
	// Method is the boot method (u-boot, ipxe, …).
	Method string
	// ServerIP is the dispatcher's address as the device reaches it.
	ServerIP string
	// Kernel, Ramdisk, DTB, Tee, Preseed, PreseedLocal are TFTP paths.
	Kernel, Ramdisk, DTB, Tee, Preseed, PreseedLocal string
	// NFSRootfs is the exported root filesystem directory, and
	// NFSServerIP its server (ServerIP when empty).
	NFSRootfs, NFSServerIP string
	// NBDServerIP and NBDServerPort are the NBD export, when deployed.
	NBDServerIP, NBDServerPort string
	// KernelType is the deploy action's kernel type: image, uimage,
	// zimage or (Basalt) bzimage; empty when the job gives none.
	KernelType string
	// BootAddresses are the device's address sets by boot command name
	// (bootm, booti, bootz, zboot).
	BootAddresses map[string]Addresses
	// RamdiskFormat is the device's deploy add_header: u-boot (a legacy
	// header), raw, or empty.
	RamdiskFormat string
	// LavaMac is {LAVA_MAC}; Root and RootPart are {ROOT} and {ROOT_PART}
	// (boots from media); JobID is {LAVA_JOB_ID}.
	LavaMac, Root, RootPart, JobID string
}

// BootCommand maps a kernel type to the U-Boot command that starts it, as
// LAVA's map_kernel_uboot does: uimage → bootm; zimage → bootz, image →
// booti when the device has those addresses, else bootm (the kernel is then
// wrapped in a uImage); bzimage → zboot (x86, Basalt). With no kernel type,
// a device with exactly one address set uses it (Basalt; LAVA then leaves
// {BOOTX} unreplaced). It returns "" when there is no boot command.
func BootCommand(kernelType string, addrs map[string]Addresses) (string, error) {
	has := func(c string) bool { _, ok := addrs[c]; return ok }
	switch strings.ToLower(kernelType) {
	case "":
		var only []string
		for _, c := range []string{"bootm", "booti", "bootz", "zboot"} {
			if has(c) {
				only = append(only, c)
			}
		}
		if len(only) == 1 {
			return only[0], nil
		}
		return "", nil
	case "uimage":
		return "bootm", nil
	case "zimage":
		if has("bootz") {
			return "bootz", nil
		}
		return "bootm", nil
	case "image":
		if has("booti") {
			return "booti", nil
		}
		return "bootm", nil
	case "bzimage":
		if has("zboot") {
			return "zboot", nil
		}
		return "", jobErrorf("kernel type bzimage needs zboot addresses in the device parameters (zboot_kernel_addr)")
	case "bootm", "bootz", "booti":
		return "", jobErrorf("kernel type %s is deprecated: use image, uimage or zimage", kernelType)
	}
	return "", jobErrorf("unknown kernel type %s (want image, uimage, zimage or bzimage)", quote(kernelType))
}

// Substitutions builds the placeholder values for in, as LAVA's
// BootloaderCommandOverlay does. A placeholder mapped to "" has no value:
// Substitute drops the lines that use it (so "tftp {RAMDISK_ADDR}
// {RAMDISK}" disappears when no ramdisk was deployed).
//
// {BOOTX} is "<command> <kernel> <ramdisk> <dtb>" (the tee address replaces
// the kernel's when a tee was deployed); the ramdisk address is "-" without
// a ramdisk, or for u-boot when the ramdisk has no u-boot header and is not
// raw; a raw ramdisk is given with its size, "<ramdisk>:${initrd_size}".
// For zboot (x86) it is "zboot <kernel> 0 <ramdisk> ${initrd_size}", or
// "zboot <kernel>" without a ramdisk.
func Substitutions(in Inputs) (map[string]string, error) {
	s := map[string]string{
		"{SERVER_IP}": in.ServerIP, "{LAVA_DISPATCHER_IP}": in.ServerIP,
		"{PRESEED_CONFIG}": in.Preseed, "{PRESEED_LOCAL}": in.PreseedLocal,
		"{DTB}": in.DTB, "{RAMDISK}": in.Ramdisk, "{INITRD}": in.Ramdisk, "{KERNEL}": in.Kernel,
		"{LAVA_MAC}": in.LavaMac, "{TEE}": in.Tee, "{LAVA_JOB_ID}": in.JobID,
		// device-tree overlays are not supported: their lines are dropped
		"{DTB_BASE_ADDR}": "", "{DTB_BASE_RESIZE}": "", "{APPLY_DTBO_COMMANDS}": "",
		"{ROOT}": in.Root, "{ROOT_PART}": in.RootPart,
	}
	cmd, err := BootCommand(in.KernelType, in.BootAddresses)
	if err != nil {
		return nil, err
	}
	if cmd != "" {
		a, ok := in.BootAddresses[cmd]
		if !ok {
			return nil, jobErrorf("the device has no %s addresses (parameters.%s) for kernel type %s", cmd, cmd, in.KernelType)
		}
		ramdisk := a.Ramdisk
		if in.Ramdisk == "" || (in.Method == UBoot && in.RamdiskFormat != "u-boot" && in.RamdiskFormat != "raw") {
			ramdisk = "-"
		}
		first := a.Kernel
		if in.Tee != "" {
			first = a.Tee
		}
		switch {
		case cmd == "zboot" && ramdisk == "-":
			s["{BOOTX}"] = "zboot " + a.Kernel
		case cmd == "zboot":
			s["{BOOTX}"] = "zboot " + a.Kernel + " 0 " + ramdisk + " ${initrd_size}"
		case in.RamdiskFormat == "raw" && ramdisk != "-":
			s["{BOOTX}"] = cmd + " " + first + " " + ramdisk + ":${initrd_size} " + a.DTB
		default:
			s["{BOOTX}"] = cmd + " " + first + " " + ramdisk + " " + a.DTB
		}
		s["{KERNEL_ADDR}"] = a.Kernel
		s["{DTB_ADDR}"] = a.DTB
		s["{RAMDISK_ADDR}"] = ramdisk
		s["{TEE_ADDR}"] = a.Tee
	}
	if in.NFSRootfs != "" {
		s["{NFSROOTFS}"] = in.NFSRootfs
		s["{NFS_SERVER_IP}"] = in.NFSServerIP
		if in.NFSServerIP == "" {
			s["{NFS_SERVER_IP}"] = in.ServerIP
		}
	}
	if in.NBDServerIP != "" {
		s["{NBDSERVERIP}"] = in.NBDServerIP
		s["{NBDSERVERPORT}"] = in.NBDServerPort
	}
	return s, nil
}

// Substitute replaces the placeholders of subs in each command. A command
// using a placeholder whose value is "" is dropped (LAVA's substitute with
// drop); placeholders subs does not name stay as they are (see
// Unresolved).
func Substitute(commands []string, subs map[string]string) []string {
	keys := orderedKeys(subs)
	out := make([]string, 0, len(commands))
next:
	for _, line := range commands {
		for _, k := range keys {
			v := subs[k]
			if v != "" {
				line = strings.ReplaceAll(line, k, v)
			} else if strings.Contains(line, k) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

func orderedKeys(subs map[string]string) []string {
	keys := make([]string, 0, len(subs))
	known := map[string]bool{}
	for _, k := range placeholderOrder {
		known[k] = true
		if _, ok := subs[k]; ok {
			keys = append(keys, k)
		}
	}
	var rest []string
	for k := range subs {
		if !known[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(keys, rest...)
}

// placeholderRE matches a LAVA placeholder, {UPPER_CASE}; Unresolved skips
// those after a $ (a bootloader variable such as ${NAME}).
var placeholderRE = regexp.MustCompile(`\{[A-Z][A-Z0-9_]*\}`)

// Unresolved returns the placeholders left in commands after Substitute,
// each once, in order of appearance. The dispatcher refuses to type them.
func Unresolved(commands []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range commands {
		for _, loc := range placeholderRE.FindAllStringIndex(c, -1) {
			if loc[0] > 0 && c[loc[0]-1] == '$' {
				continue
			}
			if p := c[loc[0]:loc[1]]; !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}
