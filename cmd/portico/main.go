// Command portico is an nginx Ingress controller that runs beside nginx.
package main

import (
	"os"
	"path/filepath"
)

func main() {
	os.Exit(runAs(filepath.Base(os.Args[0]), os.Args[1:], os.Stdout, os.Stderr))
}
