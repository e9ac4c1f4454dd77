// Command portico is an nginx Ingress controller that runs beside nginx.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
