package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

// A full refresh of a small table with the usual checks, run twice: the second run leaves
// the same rows. A run with a duplicate name then fails its unique-key check, and the
// table keeps its rows.
func Example() {
	dir, _ := os.MkdirTemp("", "sluice-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "name_gender.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	schema := etl.Schema{{Name: "name", Type: etl.TypeText, NotNull: true}, {Name: "gender", Type: etl.TypeText}}
	sink := &sqlite.FullRefresh{Target: sqlite.Target{
		DB: db, Table: "name_gender", Key: []string{"name"}, Create: true,
		Checks: []checks.Check{checks.RowCount{Min: 1}, checks.UniqueKey(), checks.DuplicateRows{}},
	}}
	run := func(rows ...etl.Row) error {
		p := &etl.Pipeline{Name: "name_gender", Sink: sink, Meta: etl.Meta{Owner: "growth team"},
			Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
				return etl.SliceStream(schema, rows), nil
			})}
		res, err := p.Run(context.Background(), etl.Window{})
		if err == nil {
			fmt.Printf("read %d, wrote %d\n", res.Stats.RowsRead, res.Stats.RowsWritten)
		}
		return err
	}
	for range 2 {
		if err := run(etl.Row{"Adaleigh", "F"}, etl.Row{"Amryn", "Unisex"}, etl.Row{"Apurva", "F"}); err != nil {
			fmt.Println(err)
		}
	}
	// The table's PRIMARY KEY rejects the duplicate while it is inserted; the load reports
	// it as the failure of its unique_key check, naming the key.
	err = run(etl.Row{"Adaleigh", "F"}, etl.Row{"Adaleigh", "M"})
	fmt.Println("step:", etl.Step(err))

	rows, _ := db.SQL().Query(`SELECT name, gender FROM name_gender ORDER BY name`)
	defer rows.Close()
	for rows.Next() {
		var name, gender string
		_ = rows.Scan(&name, &gender)
		fmt.Println(name, gender)
	}
	state := &sqlite.State{DB: db}
	history, _ := state.Runs(context.Background(), "name_gender", 0)
	for _, r := range history {
		fmt.Printf("%s step=%q owner=%q\n", r.Status, r.Step, r.Owner)
	}
	// Output:
	// read 3, wrote 3
	// read 3, wrote 3
	// step: check
	// Adaleigh F
	// Amryn Unisex
	// Apurva F
	// failed step="check" owner="growth team"
	// success step="" owner="growth team"
	// success step="" owner="growth team"
}

// A merge of changed rows by key: the latest version of each key wins, and a soft
// delete removes the row. The watermark the source advanced is stored with the rows.
func ExampleMerge() {
	dir, _ := os.MkdirTemp("", "sluice-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "shop.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	ctx := context.Background()

	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "price", Type: etl.TypeNumeric},
		{Name: "modified", Type: etl.TypeTimestamp}, {Name: "deleted", Type: etl.TypeBool}}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// The merge's Cursor and Deleted default to what the stream declares.
	sink := &sqlite.Merge{Target: sqlite.Target{DB: db, Table: "products", Key: []string{"id"}, Create: true}}
	sync := func(rows ...etl.Row) {
		run := etl.NewRun("products", etl.Window{})
		in := etl.SliceStream(schema, rows)
		in.Cursor, in.Deleted = "modified", "deleted" // as an incremental source declares them
		all := in.Rows
		in.Rows = func(yield func(etl.Row, error) bool) { // an incremental source's part
			for r, err := range all {
				if !yield(r, err) {
					return
				}
				run.Advance(r[2])
			}
		}
		if _, err := sink.Load(ctx, run, in); err != nil {
			fmt.Println(err)
		}
	}
	sync(etl.Row{int64(1), etl.Decimal("9.99"), t0, false}, etl.Row{int64(2), etl.Decimal("5.00"), t0, false})
	sync(etl.Row{int64(1), etl.Decimal("8.49"), t0.Add(time.Hour), false},
		etl.Row{int64(2), nil, t0.Add(2 * time.Hour), true})

	rows, _ := db.SQL().Query(`SELECT id, price FROM products ORDER BY id`)
	defer rows.Close()
	for rows.Next() {
		var id int64
		var price string
		_ = rows.Scan(&id, &price)
		fmt.Println(id, price)
	}
	wm, _ := (&sqlite.State{DB: db}).Watermark(ctx, "products")
	fmt.Println("watermark:", wm)
	// Output:
	// 1 8.49
	// watermark: 2026-05-01 14:00:00 +0000 UTC
}
