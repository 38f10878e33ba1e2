package redshift

import (
	"context"
	"errors"

	"github.com/sluice-etl/sluice/internal/load"
)

// State reads the incremental state of pipelines: the watermark each one keeps in the
// sluice_state table, committed with its rows.
type State struct {
	// DSN is the cluster's connection string. Required unless Connect is set.
	DSN string
	// Connect opens a connection. Defaults to [Connect] with DSN.
	Connect func(ctx context.Context) (DB, error)
	// MetaSchema holds sluice_state. Defaults to the connection's search_path.
	MetaSchema string
}

// Watermark returns the pipeline's stored watermark (int64, time.Time, string or
// etl.Decimal), or nil when it has none.
func (s *State) Watermark(ctx context.Context, pipeline string) (any, error) {
	if s.DSN == "" && s.Connect == nil {
		return nil, errors.New("redshift: State has no DSN")
	}
	d := (&Target{DSN: s.DSN, Connect: s.Connect}).dialect()
	sess, err := d.Session(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Close(ctx)
	return load.State(ctx, d, sess, s.MetaSchema, pipeline)
}
