package httpjson_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/httpjson"
)

// An API that lists changed orders two to a page, with a cursor token for the next page.
// The source sends the stored watermark in updated_since, maps a nested field, keeps a
// 20-digit amount exactly, and skips the one bad record it is allowed.
func Example() {
	pages := map[string]string{
		"": `{"data":[
			{"id":1,"customer":{"id":7},"total":12345678901234567.89,"updated_at":"2026-11-30T10:00:00Z"},
			{"id":2,"customer":{"id":8},"total":"5.00","updated_at":"2026-11-30T10:05:00+01:00","deleted":true}
		],"meta":{"next_cursor":"b2"}}`,
		"b2": `{"data":[
			{"id":3,"customer":null,"total":1.5e3,"updated_at":"2026-11-30T10:07:00Z"},
			{"id":4.5,"updated_at":"2026-11-30T10:09:00Z"}
		],"meta":{"next_cursor":null}}`,
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Println("GET", r.URL.RequestURI())
		fmt.Fprint(w, pages[r.URL.Query().Get("cursor")])
	}))
	defer api.Close()

	src, err := httpjson.New(httpjson.Config{
		URL:        api.URL + "/v1/orders?limit=2",
		Header:     http.Header{"Authorization": {"Bearer s3cret"}},
		Records:    "data",
		Pagination: httpjson.NextCursor{Path: "meta.next_cursor", Param: "cursor"},
		Schema: etl.Schema{
			{Name: "id", Type: etl.TypeInt64, NotNull: true},
			{Name: "customer_id", Type: etl.TypeInt64},
			{Name: "total", Type: etl.TypeNumeric},
			{Name: "updated_at", Type: etl.TypeTimestamp},
			{Name: "deleted", Type: etl.TypeBool},
		},
		Paths:         map[string]string{"customer_id": "customer.id"},
		Cursor:        "updated_at",
		Since:         "updated_since",
		LookBack:      5 * time.Minute,
		Deleted:       "deleted",
		MaxBadRecords: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A sink that keeps state does this under its lock; here the run stands in for it.
	run := etl.NewRun("orders_sync", etl.Window{})
	run.SetWatermark(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
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
		fmt.Println(row[0], row[1], row[2], row[3].(time.Time).UTC().Format(time.TimeOnly), row[4])
	}
	for _, r := range run.Rejects() {
		fmt.Println("rejected: record", r.Line, r.Column, r.Err)
	}
	next, _ := run.NextWatermark()
	fmt.Println("new watermark:", next.(time.Time).Format(time.RFC3339))
	// Output:
	// GET /v1/orders?limit=2&updated_since=2026-11-30T08%3A55%3A00Z
	// 1 7 12345678901234567.89 10:00:00 <nil>
	// 2 8 5.00 09:05:00 true
	// GET /v1/orders?limit=2&updated_since=2026-11-30T08%3A55%3A00Z&cursor=b2
	// 3 <nil> 1500 10:07:00 <nil>
	// rejected: record 2 id invalid value for int64: "4.5" (not an integer)
	// new watermark: 2026-11-30T10:07:00Z
}
