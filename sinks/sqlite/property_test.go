package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

// TestMergeConvergesToTheSource applies random batches of inserts, updates, soft
// deletes, resurrections, stale duplicates of a key within a batch and repeated syncs to
// a model source (40 seeded cases), and after every sync requires the table to equal the source's live
// rows exactly.
func TestMergeConvergesToTheSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	type state struct {
		name    string
		mod     int
		deleted bool
	}
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		table := fmt.Sprintf("items_%d", seed)
		l := &sqlite.Merge{Target: sqlite.Target{DB: db, Table: table, Key: []string{"id"}, BatchRows: 1 + rng.IntN(7), Create: true,
			Checks: []checks.Check{checks.UniqueKey(), checks.RowCount{}}}, Cursor: "modified", Deleted: "deleted"}
		src := map[int64]*state{}
		clock, nextID := 100, int64(1)
		for batch := range 6 {
			changed := map[int64]bool{}
			for range rng.IntN(12) {
				clock++
				ids := make([]int64, 0, len(src))
				for id := range src {
					ids = append(ids, id)
				}
				sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
				switch op := rng.IntN(4); {
				case op == 0 || len(ids) == 0:
					src[nextID] = &state{name: fmt.Sprintf("n%d", clock), mod: clock}
					changed[nextID] = true
					nextID++
				default:
					id := ids[rng.IntN(len(ids))]
					s := src[id]
					s.mod = clock
					switch op {
					case 1:
						s.name = fmt.Sprintf("u%d", clock)
					case 2:
						s.deleted = true
					case 3:
						s.deleted = false // an update that may resurrect a deleted key
						s.name = fmt.Sprintf("r%d", clock)
					}
					changed[id] = true
				}
			}
			var rows []etl.Row
			for id := range changed {
				s := src[id]
				rows = append(rows, item(id, s.name, s.mod, s.deleted))
				if rng.IntN(3) == 0 { // an older version of the same key in the batch
					rows = append(rows, item(id, "stale", s.mod-1-rng.IntN(50), rng.IntN(2) == 0))
				}
			}
			rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			var want []string
			for id, s := range src {
				if !s.deleted {
					want = append(want, fmt.Sprintf("%d|%s|%s|0", id, s.name,
						t0.Add(time.Duration(s.mod)*time.Minute).Format(sqlite.TimestampLayout)))
				}
			}
			sort.Slice(want, func(i, j int) bool {
				var a, b int
				fmt.Sscan(want[i], &a)
				fmt.Sscan(want[j], &b)
				return a < b
			})
			for range 1 + rng.IntN(2) { // re-running a sync changes nothing
				p := &etl.Pipeline{Name: table, Sink: l, Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
					return etl.SliceStream(items, rows), nil
				})}
				_, err := p.Run(ctx, etl.Window{})
				require.NoError(t, err, "seed %d batch %d", seed, batch)
				got := dump(t, db, table)
				if want == nil {
					require.Empty(t, got, "seed %d batch %d", seed, batch)
				} else {
					require.Equal(t, want, got, "seed %d batch %d", seed, batch)
				}
			}
		}
	}
}
