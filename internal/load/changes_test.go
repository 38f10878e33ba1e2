package load

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

func TestMergeColumns(t *testing.T) {
	t.Parallel()
	schema := etl.Schema{{Name: "id"}, {Name: "modified"}, {Name: "deleted"}, {Name: "deleted_at"}}
	stream := func(cursor, deleted string) etl.Stream {
		return etl.Stream{Schema: schema, Cursor: cursor, Deleted: deleted}
	}
	cases := []struct {
		name                   string
		in                     etl.Stream
		cursor, deleted        string
		wantCursor, wantDelete string
		wantErr                string
	}{
		{name: "nothing set or declared", in: stream("", "")},
		{name: "declared", in: stream("modified", "deleted"), wantCursor: "modified", wantDelete: "deleted"},
		{name: "set", in: stream("", ""), cursor: "modified", deleted: "deleted_at", wantCursor: "modified", wantDelete: "deleted_at"},
		{name: "set wins over declared", in: stream("modified", "deleted"), cursor: "id", deleted: "deleted_at", wantCursor: "id", wantDelete: "deleted_at"},
		{name: "only the delete declared", in: stream("", "deleted"), cursor: "modified", wantCursor: "modified", wantDelete: "deleted"},
		{name: "set but missing", in: stream("", ""), deleted: "gone",
			wantErr: `table t: Merge.Deleted names column "gone", which the stream does not have (it has "id", "modified", "deleted", "deleted_at")`},
		{name: "declared delete dropped", in: stream("modified", "is_deleted"),
			wantErr: `table t: the source declares "is_deleted" as its soft-delete column, but the stream that reached the merge does not have it`},
		{name: "declared cursor dropped", in: stream("updated", ""),
			wantErr: `table t: the source declares "updated" as its cursor column`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cursor, deleted, err := MergeColumns("t", c.in, c.cursor, c.deleted)
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.wantCursor, cursor)
			require.Equal(t, c.wantDelete, deleted)
		})
	}
}
