package load

import (
	"context"
	"testing"

	"github.com/sluice-etl/sluice/etl"
)

// BenchmarkObserverOverhead measures what a no-op observer adds per row: the progress
// wrapper the protocol puts around the stream when a run has an observer. Wall-clock
// comparisons of whole loads cannot resolve 1% on a shared 2-core machine; this can. Set
// against the full refresh's cost per row (about 1.6 us at 2M rows, see bench/), the
// reported ns/row is the observer's share of a load.
func BenchmarkObserverOverhead(b *testing.B) {
	row := etl.Row{int64(1), "name", "e@x", "F", "DE", etl.Decimal("12.50"), nil, nil, false}
	stream := func(n int) etl.Stream {
		return etl.Stream{Rows: func(yield func(etl.Row, error) bool) {
			for range n {
				if !yield(row, nil) {
					return
				}
			}
		}}
	}
	for _, tc := range []struct {
		name string
		obs  etl.Observer
	}{
		{"none", nil},
		{"noop", etl.ObserverFunc(func(context.Context, etl.Event) {})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			run := etl.NewRun("bench", etl.Window{})
			run.Observer = tc.obs
			p := &protocol{run: run}
			b.ReportAllocs()
			b.ResetTimer()
			var n int
			for _, err := range p.watch(context.Background(), stream(b.N)).Rows {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != b.N {
				b.Fatalf("saw %d rows of %d", n, b.N)
			}
		})
	}
}
