package csv

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

// boxAll boxes n values of gen through a fresh slab and also the ordinary way, and
// returns both, dropping the slab.
func boxAll[T boxable](n int, gen func(int) T) (slabbed, plain []any) {
	var s slab[T]
	for i := range n {
		v := gen(i)
		slabbed = append(slabbed, s.box(v))
		plain = append(plain, any(v))
	}
	return slabbed, plain
}

// churn allocates and drops memory of every size class the slabs use, so that an array
// the collector wrongly freed would be overwritten before it is read.
func churn() {
	for range 3 {
		runtime.GC()
		var keep [][]byte
		for i := range 4096 {
			b := make([]byte, 16+i%2048)
			for j := range b {
				b[j] = 0xA5
			}
			keep = append(keep, b)
		}
		runtime.KeepAlive(keep)
	}
}

// A slab-boxed value is indistinguishable from an ordinarily boxed one: same dynamic
// type, ==, map key, reflection and formatting. It stays so after its slab is full and
// dropped and the collector has run, which it could not if the interface's pointer into
// the slab did not keep the slab alive.
func TestSlabBoxesLikeTheRuntime(t *testing.T) {
	t.Parallel()
	n := 3*slabLen + 7 // several full slabs and a partial one
	loc := time.FixedZone("", 2*3600)
	cases := map[string]func() (slabbed, plain []any){
		"string": func() ([]any, []any) {
			return boxAll(n, func(i int) string { return fmt.Sprint("value ", i) })
		},
		"int64": func() ([]any, []any) {
			return boxAll(n, func(i int) int64 { return int64(i) - 200 }) // small ints too
		},
		"float64": func() ([]any, []any) { return boxAll(n, func(i int) float64 { return float64(i) / 3 }) },
		"decimal": func() ([]any, []any) {
			return boxAll(n, func(i int) etl.Decimal { return etl.Decimal(fmt.Sprint(i, ".5")) })
		},
		"time": func() ([]any, []any) {
			return boxAll(n, func(i int) time.Time { return time.Unix(int64(i)*7919, int64(i)).In(loc) })
		},
	}
	for name, gen := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			slabbed, plain := gen()
			churn()
			require.Len(t, slabbed, n)
			seen := make(map[any]int, n)
			for i := range slabbed {
				require.Equal(t, reflect.TypeOf(plain[i]), reflect.TypeOf(slabbed[i]))
				require.True(t, plain[i] == slabbed[i], "value %d: %v != %v", i, slabbed[i], plain[i])
				require.Equal(t, fmt.Sprintf("%#v", plain[i]), fmt.Sprintf("%#v", slabbed[i]))
				seen[slabbed[i]] = i
			}
			for i := range plain {
				require.Equal(t, i, seen[plain[i]], "a plain value finds its slab twin as a map key")
			}
		})
	}
}

// Values handed to other goroutines are read there while the slab goes on boxing into
// the same array. Run under -race: an element is written before its interface exists and
// never after, so the readers and the writer never touch the same memory unordered.
func TestSlabValuesCrossGoroutines(t *testing.T) {
	t.Parallel()
	const n = 20 * slabLen
	var s slab[int64]
	ch := make(chan any, 64)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	var mu sync.Mutex
	var kept []any
	for range 4 {
		wg.Go(func() {
			for v := range ch {
				x := v.(int64)
				if x < 0 || x >= n {
					errs <- fmt.Errorf("read %d, never boxed", x)
					return
				}
				mu.Lock()
				kept = append(kept, v)
				mu.Unlock()
			}
		})
	}
	for i := range int64(n) {
		ch <- s.box(i)
	}
	close(ch)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	churn()
	require.Len(t, kept, n)
	got := make([]bool, n)
	for _, v := range kept {
		got[v.(int64)] = true
	}
	for i, ok := range got {
		require.True(t, ok, "value %d lost", i)
	}
}

// Decoding rows keeps each row's values when the next row overwrites the reused Row, so a
// clone taken of an earlier row still reads its own values.
func TestDecodedClonesKeepTheirValues(t *testing.T) {
	t.Parallel()
	var d decoder
	var clones []etl.Row
	row := make(etl.Row, 3)
	for i := range 2*slabLen + 1 {
		row[0] = d.ints.box(int64(i))
		row[1] = d.strings.box(fmt.Sprint("s", i))
		row[2] = d.times.box(time.Unix(int64(i), 0).UTC())
		clones = append(clones, row.Clone())
	}
	d = decoder{} // drop the slabs
	churn()
	for i, c := range clones {
		require.Equal(t, etl.Row{int64(i), fmt.Sprint("s", i), time.Unix(int64(i), 0).UTC()}, c)
	}
}
