package etl_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// A pipeline reads a source, transforms the rows lazily and hands the stream to a sink.
// Here every piece is in memory; real ones come from sources/... and sinks/....
func Example() {
	schema := etl.Schema{{Name: "name", Type: etl.TypeText}, {Name: "gender", Type: etl.TypeText}}
	source := etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		return etl.SliceStream(schema, []etl.Row{{"Adaleigh", "f"}, {"Amryn", "unisex"}, {"", "m"}}), nil
	})
	sink := etl.LoadFunc(func(_ context.Context, _ *etl.Run, in etl.Stream) (etl.LoadResult, error) {
		var n int64
		for row, err := range in.Rows {
			if err != nil {
				return etl.LoadResult{}, err
			}
			fmt.Println(row...)
			n++
		}
		return etl.LoadResult{RowsWritten: n}, nil
	})
	p := &etl.Pipeline{
		Name:   "name_gender",
		Meta:   etl.Meta{Owner: "growth team"},
		Source: source,
		Transforms: []etl.Transformer{
			etl.Filter(func(r etl.Row) bool { return r[0] != "" }),
			etl.Map(nil, func(r etl.Row) (etl.Row, error) {
				r[1] = strings.ToUpper(r[1].(string))
				return r, nil
			}),
		},
		Sink: sink,
	}
	res, err := p.Run(context.Background(), etl.Window{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("read %d, filtered %d, written %d\n", res.Stats.RowsRead, res.Stats.RowsFiltered, res.Stats.RowsWritten)
	// Output:
	// Adaleigh F
	// Amryn UNISEX
	// read 3, filtered 1, written 2
}

type order struct {
	ID      int64       `db:"id"`
	Amount  etl.Decimal `db:"amount"`
	Coupon  *string     `db:"coupon"`
	Created time.Time   `db:"created_at"`
	Note    string      `db:"-"`
}

func ExampleSchemaOf() {
	schema, err := etl.SchemaOf[order]()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range schema {
		fmt.Println(c.Name, c.Type, "not null:", c.NotNull)
	}
	// Output:
	// id int64 not null: true
	// amount numeric not null: true
	// coupon text not null: false
	// created_at timestamp not null: true
}

func ExampleFromStructs() {
	spring := "SPRING"
	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	s, err := etl.FromStructs([]order{
		{ID: 1, Amount: "19.99", Coupon: &spring, Created: day},
		{ID: 2, Amount: "5.00", Created: day},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Schema.Names())
	for row, err := range s.Rows {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(row[0], row[1], row[2])
	}
	// Output:
	// [id amount coupon created_at]
	// 1 19.99 SPRING
	// 2 5.00 <nil>
}

func ExampleStructs() {
	schema := etl.Schema{{Name: "id"}, {Name: "amount"}, {Name: "coupon"}, {Name: "created_at"}, {Name: "channel"}}
	rows := []etl.Row{
		{int64(7), etl.Decimal("12.50"), nil, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), "web"},
		{int64(8), etl.Decimal("3.10"), "WELCOME", time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC), "app"},
	}
	// The "channel" column has no field in order, so it is ignored.
	for o, err := range etl.Structs[order](etl.SliceStream(schema, rows)) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(o.ID, o.Amount, o.Coupon != nil, o.Created.Format(time.DateOnly))
	}
	// Output:
	// 7 12.50 false 2024-03-01
	// 8 3.10 true 2024-03-02
}

func ExampleScanRow() {
	type person struct {
		ID  int64 `db:"id"`
		Age int8  `db:"age"`
	}
	schema := etl.Schema{{Name: "id"}, {Name: "age"}}
	var p person
	fmt.Println(etl.ScanRow(schema, etl.Row{int64(1), int64(300)}, &p))
	fmt.Println(etl.ScanRow(schema, etl.Row{int64(1), nil}, &p))
	// Output:
	// etl: etl_test.person.Age (column "age"): value 300 overflows Go type int8
	// etl: etl_test.person.Age (column "age"): is NULL, which Go type int8 cannot hold; make the field a pointer
}

func ExampleWindows() {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, w := range etl.Windows(start, start.Add(60*time.Hour), 24*time.Hour) {
		fmt.Println(w)
	}
	// Output:
	// 2024-01-01T00:00:00Z/2024-01-02T00:00:00Z
	// 2024-01-02T00:00:00Z/2024-01-03T00:00:00Z
	// 2024-01-03T00:00:00Z/2024-01-03T12:00:00Z
}

func ExampleParseType() {
	t, err := etl.ParseType("Timestamp")
	fmt.Println(t, err)
	_, err = etl.ParseType("varchar")
	fmt.Println(err)
	// Output:
	// timestamp <nil>
	// etl: unknown column type "varchar"
}
