package etl_test

import (
	"context"
	"encoding/json"
	"iter"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

// changes is a source of changed rows that declares its cursor and soft-delete column.
func changes() etl.Extractor {
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "modified", Type: etl.TypeInt64}, {Name: "deleted", Type: etl.TypeBool}}
	return etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		s := etl.SliceStream(schema, []etl.Row{{int64(1), int64(5), false}, {int64(2), int64(6), true}})
		s.Cursor, s.Deleted = "modified", "deleted"
		return s, nil
	})
}

// received is a sink that keeps the stream it was given, drained.
type received struct{ in etl.Stream }

func (r *received) Load(_ context.Context, _ *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	r.in = in
	_, err := etl.Collect(in)
	return etl.LoadResult{}, err
}

type change struct {
	ID       int64 `db:"id"`
	Modified int64 `db:"modified"`
	Deleted  bool  `db:"deleted"`
}

func TestTransformsKeepTheDeclaration(t *testing.T) {
	t.Parallel()
	// Rebuilding the stream from structs, as a user transform does, declares nothing of
	// its own.
	viaStructs := etl.TransformFunc(func(_ context.Context, _ *etl.Run, in etl.Stream) (etl.Stream, error) {
		seq := func(yield func(change) bool) {
			for c, err := range etl.Structs[change](in) {
				if err != nil || !yield(c) {
					return
				}
			}
		}
		return etl.StructStream(iter.Seq[change](seq))
	})
	cases := []struct {
		name  string
		tr    etl.Transformer
		wantC string
		wantD string
	}{
		{"Map", etl.Map(nil, func(r etl.Row) (etl.Row, error) { return r, nil }), "modified", "deleted"},
		{"Map to a new schema", etl.Map(etl.Schema{{Name: "id", Type: etl.TypeInt64}}, func(r etl.Row) (etl.Row, error) { return r[:1], nil }), "modified", "deleted"},
		{"Filter", etl.Filter(func(etl.Row) bool { return true }), "modified", "deleted"},
		{"Validate", etl.Validate(0, func(etl.Row) error { return nil }), "modified", "deleted"},
		{"struct mapping", viaStructs, "modified", "deleted"},
		{"a transform that declares its own cursor", etl.TransformFunc(func(_ context.Context, _ *etl.Run, in etl.Stream) (etl.Stream, error) {
			in.Cursor = "id"
			return in, nil
		}), "id", "deleted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sink := &received{}
			p := &etl.Pipeline{Name: "p", Source: changes(), Transforms: []etl.Transformer{c.tr, c.tr}, Sink: sink}
			_, err := p.Run(context.Background(), etl.Window{})
			require.NoError(t, err)
			require.Equal(t, c.wantC, sink.in.Cursor)
			require.Equal(t, c.wantD, sink.in.Deleted)
		})
	}
}

func TestWindowJSON(t *testing.T) {
	t.Parallel()
	w := etl.Window{Start: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)}
	b, err := json.Marshal(w)
	require.NoError(t, err)
	require.JSONEq(t, `{"start": "2026-01-02T00:00:00Z", "end": "2026-01-03T00:00:00Z"}`, string(b))

	for _, stored := range []string{string(b), `{"Start": "2026-01-02T00:00:00Z", "End": "2026-01-03T00:00:00Z"}`} {
		var got etl.Window
		require.NoError(t, json.Unmarshal([]byte(stored), &got), stored)
		require.Equal(t, w, got, stored)
	}
}
