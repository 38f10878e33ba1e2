package httpjson_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/httpjson"
)

// benchPages is how many pages one benchmark op reads, and benchPageSize the records in
// each: 20,000 records an op.
const (
	benchPages    = 20
	benchPageSize = 1000
)

var benchSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "customer_id", Type: etl.TypeInt64},
	{Name: "status", Type: etl.TypeText},
	{Name: "email", Type: etl.TypeText},
	{Name: "total", Type: etl.TypeNumeric},
	{Name: "created_at", Type: etl.TypeTimestamp},
	{Name: "updated_at", Type: etl.TypeTimestamp},
	{Name: "deleted", Type: etl.TypeBool},
}

// benchPage renders page n (from 1) of an order API: 1,000 records of 8 mapped fields,
// one of them nested, and 3 fields the schema skips, about 370 bytes a record.
func benchPage(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range benchPageSize {
		id := (n-1)*benchPageSize + i + 1
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"customer":{"id":%d,"name":"Customer %d"},"status":"shipped",`+
			`"email":"user%d@example.com","total":%d.%02d,"currency":"EUR",`+
			`"created_at":"%s","updated_at":"%s","deleted":%t,`+
			`"tags":["priority","gift"],"notes":"leave at the door, ring twice"}`,
			id, id%5000, id%5000, id, id%100000, id%100,
			t0.Add(time.Duration(id)*time.Second).Format(time.RFC3339),
			t0.Add(time.Duration(id)*time.Second+time.Hour).Format(time.RFC3339Nano), id%50 == 0)
	}
	next := "null"
	if n < benchPages {
		next = strconv.Quote("c" + strconv.Itoa(n+1))
	}
	fmt.Fprintf(&b, `],"meta":{"next_cursor":%s}}`, next)
	return []byte(b.String())
}

// BenchmarkSource reads a local API serving 1,000-record pages, as a pipeline would: a
// cursor in the body, a nested field, every value typed. It reports records/s; the
// server (pre-rendered pages) shares the machine.
func BenchmarkSource(b *testing.B) {
	pages := make([][]byte, benchPages+1)
	size := 0
	for n := 1; n <= benchPages; n++ {
		pages[n] = benchPage(n)
		size += len(pages[n])
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 1
		if c := r.URL.Query().Get("cursor"); c != "" {
			n, _ = strconv.Atoi(c[1:])
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(pages[n])
	}))
	b.Cleanup(srv.Close)
	src, err := httpjson.New(httpjson.Config{
		URL:        srv.URL + "/v1/orders?limit=1000",
		Header:     http.Header{"Authorization": {"Bearer " + token}},
		Records:    "data",
		Pagination: httpjson.NextCursor{Path: "meta.next_cursor", Param: "cursor"},
		Schema:     benchSchema,
		Paths:      map[string]string{"customer_id": "customer.id"},
		Cursor:     "updated_at",
		Since:      "updated_since",
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		run := etl.NewRun("bench", etl.Window{})
		s, err := src.Extract(ctx, run)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, err := range s.Rows {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchPages*benchPageSize {
			b.Fatalf("read %d records", n)
		}
	}
	b.ReportMetric(float64(b.N*benchPages*benchPageSize)/time.Since(start).Seconds(), "records/s")
}
