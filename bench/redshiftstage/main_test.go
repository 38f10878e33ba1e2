package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRunSmall runs the benchmark once on a few rows, so it keeps building and working.
func TestRunSmall(t *testing.T) {
	require.NoError(t, run(5000, 4096, 2, 3, false))
	require.NoError(t, run(100, 4096, 2, 1, true))
}
