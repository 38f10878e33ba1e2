package load_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

// TestRunRecordsHideSecrets: the run record's error and its rejects go through the same
// redaction as printed errors, so that a connection string's password or an s3 URL's
// key quoted by a failure never lands in sluice_runs.
func TestRunRecordsHideSecrets(t *testing.T) {
	t.Parallel()
	const (
		dsnPassword = "pg-5ecret-pw"
		s3Secret    = "s3-5ecret-key"
	)
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"))
	require.NoError(t, err)
	defer db.Close()
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}}
	source := etl.ExtractFunc(func(_ context.Context, run *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: schema, Rows: func(yield func(etl.Row, error) bool) {
			run.Reject(etl.Reject{Source: "s3://AKIAEXAMPLE:" + s3Secret + "@bucket/in.csv", Line: 2, Column: "id",
				Err: errors.New("not an integer")})
			run.Reject(etl.Reject{Source: "in.csv", Line: 3,
				Err: errors.New("lookup in postgres://loader:" + dsnPassword + "@db.internal/app failed")})
			if !yield(etl.Row{int64(1)}, nil) {
				return
			}
			yield(nil, errors.New("read s3://AKIAEXAMPLE:"+s3Secret+"@bucket/in.csv: connection reset"))
		}}, nil
	})
	p := &etl.Pipeline{Name: "secrets", Source: source,
		Sink: &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "t", Create: true}}}
	_, err = p.Run(context.Background(), etl.Window{})
	require.Error(t, err)

	recs, err := (&sqlite.State{DB: db}).Runs(context.Background(), "secrets", 1)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	rec := recs[0]
	require.Len(t, rec.Rejects, 2)
	stored := rec.Error + "\n" + strings.Join(rec.Rejects, "\n")
	for _, secret := range []string{dsnPassword, s3Secret} {
		require.NotContains(t, stored, secret)
	}
	require.Contains(t, rec.Error, "s3://AKIAEXAMPLE:xxxxx@bucket/in.csv", "the record still says where")
	require.Contains(t, rec.Rejects[1], "postgres://loader:xxxxx@db.internal/app")
}
