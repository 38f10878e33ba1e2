package load

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

// downDialect is a database that cannot be reached: every Session fails.
type downDialect struct{ sessions int }

func (d *downDialect) QuoteIdent(s string) string { return `"` + s + `"` }
func (d *downDialect) Placeholder(n int) string   { return fmt.Sprintf("$%d", n) }
func (d *downDialect) Name() string               { return "down" }
func (d *downDialect) Session(context.Context) (Session, error) {
	d.sessions++
	return nil, errors.New("connection refused")
}
func (d *downDialect) Qualify(schema, name string) string { return schema + "." + name }
func (d *downDialect) ColumnType(etl.Type) string         { return "text" }
func (d *downDialect) Retryable(error) bool               { return false }

// A load that cannot connect fails at the connect step, tries a second session for its
// failed-run record, and says that the record could not be written rather than
// returning as if it had been.
func TestALoadThatCannotConnectSaysItLeftNoRecord(t *testing.T) {
	t.Parallel()
	d := &downDialect{}
	run := etl.NewRun("p", etl.Window{})
	in := etl.SliceStream(etl.Schema{{Name: "a"}}, []etl.Row{{"x"}})
	_, err := Run(context.Background(), d, Spec{Table: "t", FullRefresh: true}, kindOnly("full_refresh"), run, in)
	require.ErrorContains(t, err, "connection refused")
	require.Equal(t, "connect", etl.Step(err))
	require.ErrorIs(t, err, etl.ErrNotRecorded)
	require.Equal(t, 2, d.sessions, "the record is tried on a fresh session")
}
