// Package deviceconfig reads a device's rendered configuration: the YAML
// that rendering a device dictionary with its device-type template gives
// (LAVA's "device configuration", shipped to the dispatcher with each job).
//
// Read turns the YAML into a Config: the connection and power commands
// (commands:), the character delays, the constants (test shell, prompts,
// each bootloader's interrupt prompt, interrupt character and error
// messages), the parameters (load addresses per kernel type, interfaces),
// the deploy and boot methods the device offers with their parameters and
// bootloader command sets (actions:), the timeouts and the environment.
// Problems are *Error values carrying the line, column and YAML path.
//
// The reader follows what LAVA's dispatcher reads, with PyYAML's reading of
// the rendered text where it differs from YAML 1.2 (True/yes/on are true;
// a key written twice keeps its last value). It imports no transport,
// storage or template engine: rendering is the caller's business.
package deviceconfig
