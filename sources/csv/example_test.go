package csv_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/csv"
)

// A CSV with a byte order mark, CRLF line ends, a quoted comma and a bad row, read into
// a typed schema. One bad row is allowed, so it is skipped and kept in the run's rejects.
func Example() {
	const data = "\ufeffname,gender,born,score\r\n" +
		"Adaleigh,F,2019-03-01,12.50\r\n" +
		"\"Amryn, Jr.\",Unisex,2020-11-30,\r\n" +
		"Apurva,F,sometime,7\r\n"

	src, err := csv.New(csv.Config{
		Reader: strings.NewReader(data),
		Name:   "name_gender.csv",
		Schema: etl.Schema{
			{Name: "name", Type: etl.TypeText},
			{Name: "gender", Type: etl.TypeText},
			{Name: "born", Type: etl.TypeDate},
			{Name: "score", Type: etl.TypeNumeric},
		},
		MaxBadRows: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	run := etl.NewRun("name_gender", etl.Window{})
	stream, err := src.Extract(context.Background(), run)
	if err != nil {
		fmt.Println(err)
		return
	}
	for row, err := range stream.Rows {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%q %v %s %v\n", row[0], row[1], row[2].(time.Time).Format(time.DateOnly), row[3])
	}
	for _, r := range run.Rejects() {
		fmt.Println("rejected:", r)
	}
	// Output:
	// "Adaleigh" F 2019-03-01 12.50
	// "Amryn, Jr." Unisex 2020-11-30 <nil>
	// rejected: name_gender.csv:4: column "born": invalid value for date: "sometime"
}
