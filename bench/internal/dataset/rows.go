package dataset

import (
	"iter"
	"strconv"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// Rows streams rows 1..n for seed as etl values in [Schema]'s order, the same data
// [WriteCSV] writes, for a benchmark that feeds a sink directly instead of through a CSV
// file. It reuses one etl.Row, as sources do.
func Rows(n int64, seed uint64) iter.Seq2[etl.Row, error] {
	return func(yield func(etl.Row, error) bool) {
		row := make(etl.Row, len(Schema))
		var buf []byte
		for id := int64(1); id <= n; id++ {
			r := Generate(seed, id)
			if r.Quoted {
				row[1] = r.Last + ", " + r.First
			} else {
				row[1] = r.First + " " + r.Last
			}
			row[0] = r.ID
			row[2] = r.EmailPrefix + strconv.FormatInt(id, 10) + "@example.com"
			row[3] = r.Gender
			row[4] = r.Country
			buf = AppendCents(buf[:0], r.Cents)
			row[5] = etl.Decimal(buf)
			row[6] = time.Unix(r.Created, 0).UTC()
			row[7] = time.Unix(r.Modified, 0).UTC()
			row[8] = false
			if !yield(row, nil) {
				return
			}
		}
	}
}
