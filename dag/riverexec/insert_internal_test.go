package riverexec

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

// TestQuoteLiteral: the literals of the statement that begins an insert read back as
// the strings they quote, whatever quotes and backslashes a schema's name holds.
func TestQuoteLiteral(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	for _, s := range []string{"plain", `it's`, `back\slash`, `\'`, `''\\`, "ünïcode.river_insert", `{"queue": "sluice_x"}`} {
		var got string
		require.NoError(t, db.Pool.QueryRow(context.Background(), "SELECT "+quoteLiteral(s)).Scan(&got))
		require.Equal(t, s, got)
	}
}
