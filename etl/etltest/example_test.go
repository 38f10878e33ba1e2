package etltest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/etl/etltest"
)

// nameGender is one record of the name_gender job.
type nameGender struct {
	Name   string `db:"name"`
	Gender string `db:"gender"`
}

// normalize is the transform under test: it trims names and upper-cases genders.
var normalize = etl.Map(nil, func(r etl.Row) (etl.Row, error) {
	r[0] = strings.TrimSpace(r[0].(string))
	r[1] = strings.ToUpper(r[1].(string))
	return r, nil
})

// A pipeline test without a database: a source of structs, the transform under test, and
// a sink that checks the key the way the warehouse load will. In a test function the run
// and the comparison read
//
//	res := etltest.Run(t, p)
//	etltest.RequireRows(t, want, sink.Rows())
//	etltest.RequireStats(t, etl.Stats{RowsRead: 2, RowsWritten: 2}, res.Stats)
//
// and a run expected to fail reads
//
//	_, err := etltest.RunErr(t, p)
//	etltest.RequireCheckFailed(t, err, "unique_key")
func Example() {
	sink := &etltest.Sink{
		Table:  "name_gender",
		Checks: []etltest.StreamCheck{checks.UniqueKey("name"), checks.RowCount{Min: 1}},
	}
	p := &etl.Pipeline{
		Name:       "name_gender",
		Source:     etltest.SourceOf(nameGender{" Adaleigh", "f"}, nameGender{"Amryn", "unisex"}),
		Transforms: []etl.Transformer{normalize},
		Sink:       sink,
	}
	res, err := p.Run(context.Background(), etl.Window{})
	fmt.Println("loaded:", res.Stats.RowsWritten, err)
	for _, r := range sink.Rows() {
		fmt.Println(r...)
	}

	// A duplicate name fails the key check, and the sink keeps the rows it had.
	p.Source = etltest.SourceOf(nameGender{"Apurva", "F"}, nameGender{"Apurva ", "M"})
	_, err = p.Run(context.Background(), etl.Window{})
	for _, c := range etltest.FailedChecks(err) {
		fmt.Println("failed:", c.Name, "found", c.Found, c.Samples)
	}
	fmt.Println("still:", len(sink.Rows()), "rows")
	// Output:
	// loaded: 2 <nil>
	// Adaleigh F
	// Amryn UNISEX
	// failed: unique_key(name) found 1 duplicate keys [Apurva (2 rows)]
	// still: 2 rows
}
