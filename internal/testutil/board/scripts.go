package board

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The power scripts, in the board's directory.
const (
	powerOn   = "power-on"
	powerOff  = "power-off"
	hardReset = "hard-reset"
	failFlag  = "power-fail"
)

func (b *Board) script(name string) string { return filepath.Join(b.dir, name) }

// QEMUArgs is the emulator's command line for one power on (without the
// daemonizing options the power-on script adds).
func (b *Board) QEMUArgs() []string {
	o := b.opts
	args := []string{o.QEMU,
		"-name", "basalt-board-" + o.Name,
		"-accel", "tcg",
		"-m", fmt.Sprint(o.MemoryMB),
		"-smp", "1",
		"-nodefaults",
		"-display", "none",
		"-monitor", "none",
		"-netdev", "user,id=n0",
		// The board's UART: each QEMU connects to the relay's socket as a
		// client when it starts (synchronously, before the firmware runs:
		// no output is lost), so the line outlives the board.
		"-chardev", "socket,id=s0,path=" + filepath.Join(b.dir, "serial.sock"),
		"-serial", "chardev:s0",
	}
	switch o.Firmware {
	case UBoot:
		args = append(args, "-machine", "pc", "-bios", o.ROM,
			// U-Boot has its own e1000 driver: no option ROM.
			"-device", "e1000,netdev=n0,mac="+o.MAC+",romfile=")
	case IPXE:
		// graphics=off makes SeaBIOS a serial console (sercon): its and
		// iPXE's screen output go to the UART, its keyboard comes from it.
		args = append(args, "-machine", "pc,graphics=off", "-boot", "n",
			"-device", "e1000,netdev=n0,mac="+o.MAC+",romfile="+o.ROM)
	}
	return args
}

// writeScripts writes the power scripts. They only need /bin/sh and the
// board's directory, so any process can run them (LAVA's dispatcher runs
// power commands with /bin/sh -c).
func (b *Board) writeScripts() error {
	dir := shellQuote(b.dir)
	name := b.opts.Name
	var qemu []string
	for _, a := range b.QEMUArgs() {
		qemu = append(qemu, shellQuote(a))
	}
	header := fmt.Sprintf(`#!/bin/sh
# Test board %s (internal/testutil/board).
dir=%s
pidfile="$dir/qemu.pid"
if [ -e "$dir/%s" ]; then
	echo "board %s: %%s failed: power controller unreachable (test flag $dir/%s)" >&2
	exit 1
fi
# running: QEMU of this board is alive (pid file, same board, not a zombie).
running() {
	pid=$(cat "$pidfile" 2>/dev/null) || return 1
	grep -qaF -- "$pidfile" "/proc/$pid/cmdline" 2>/dev/null || return 1
	state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ]
}
`, name, dir, failFlag, name, failFlag)
	scripts := map[string]string{
		powerOn: fmt.Sprintf(header, "power on") + fmt.Sprintf(`if running; then
	echo "board %s: already on"
	exit 0
fi
rm -f "$pidfile"
%s -daemonize -pidfile "$pidfile" || { echo "board %s: power on failed: QEMU did not start" >&2; exit 1; }
echo "board %s: on"
`, name, strings.Join(qemu, " "), name, name),
		powerOff: fmt.Sprintf(header, "power off") + fmt.Sprintf(`if ! running; then
	rm -f "$pidfile"
	echo "board %s: already off"
	exit 0
fi
kill -KILL "$pid"
i=0
while running; do
	i=$((i+1))
	if [ $i -gt 200 ]; then
		echo "board %s: power off failed: QEMU $pid still running" >&2
		exit 1
	fi
	sleep 0.05
done
rm -f "$pidfile"
echo "board %s: off"
`, name, name, name),
		hardReset: fmt.Sprintf(header, "hard reset") + `"$dir/` + powerOff + `" && exec "$dir/` + powerOn + `"
`,
	}
	for n, text := range scripts {
		if err := os.WriteFile(b.script(n), []byte(text), 0o755); err != nil {
			return fmt.Errorf("write %s script: %w", n, err)
		}
	}
	return nil
}
