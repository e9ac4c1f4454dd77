//go:build !linux

package nginx

import (
	"errors"
	"fmt"
)

// countWorkers needs Linux's /proc; elsewhere (development machines) the
// worker metric is simply not exported.
func countWorkers(int) (Workers, error) {
	return Workers{}, fmt.Errorf("count nginx workers: %w", errors.ErrUnsupported)
}
