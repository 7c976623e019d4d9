// Package console opens the serial consoles of physical boards for the
// dispatcher, as io.ReadWriteClosers it drives like QEMU's console (see
// dispatcher.Device.Console and dispatcher.Conn).
//
// A board's console reaches the worker in one of three ways, all handled
// here:
//
//   - Through a console server or ser2net, over telnet: LAVA device
//     dictionaries say connection_command: telnet localhost 7001. Basalt
//     speaks telnet itself (Telnet, DialTelnet): it filters and answers
//     option negotiation, keeps 8-bit data intact (BINARY both ways, IAC
//     escaping) and, when asked, sets the remote serial port's baud rate,
//     data bits, parity, stop bits and flow control with RFC 2217
//     (COM-PORT-OPTION), reporting what the server confirmed. No telnet
//     program is needed.
//   - Through any other connection command (Command): the command runs
//     under /bin/sh on a raw pseudo-terminal in its own process group, like
//     LAVA's pexpect session; its output is the console, its exit the
//     console's end, and Close kills its process group. A command that is
//     just "telnet [options] HOST [PORT]" is not run: Basalt connects
//     natively instead.
//   - Through a local serial port, such as a USB serial adapter (Serial),
//     set with termios.
//
// Spec holds a device's consoles as its rendered configuration gives them
// (commands.connect, or commands.connections with one connection tagged
// "primary", as LAVA chooses them) and Open opens the primary one; Dial
// accepts, besides connection commands, Basalt's own addresses for a
// local serial port (serial:/dev/ttyUSB0?baud=115200&parity=none) and for
// telnet with or without RFC 2217 (telnet://HOST:PORT,
// rfc2217://HOST:PORT?mode=115200n81).
//
// Keep makes a console survive the loss of its connection (ser2net
// restarted, a console server's port reset, a USB adapter replugged): it
// redials with exponential back-off and reports each gap, while reads and
// writes wait for the connection to come back. DelayWriter types slowly
// for bootloaders that drop characters (LAVA's character_delays).
//
// Limits: a telnet subnegotiation keeps at most MaxSubnegotiation bytes; a
// connection command is at most 4096 bytes; a command's exit error quotes
// its last 256 output bytes.
package console
