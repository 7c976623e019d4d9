// Command basalt is the single binary of the Basalt lab: the server, the
// worker, administration and the client commands.
package main

import (
	"os"

	"github.com/basalt-lab/basalt/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
