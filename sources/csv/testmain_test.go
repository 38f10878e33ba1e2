package csv_test

import (
	"testing"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

// TestMain says, once, when database tests skipped and how to run them.
func TestMain(m *testing.M) { pgtest.Main(m) }
