package dataset

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

func TestAppendTimestampMatchesTimeFormat(t *testing.T) {
	t.Parallel()
	for _, sec := range []int64{0, -1, -86400, 951782400, 951868799, 1577836800, 1709251199, 4102444800, createdFrom + createdSpan + modifySpan} {
		want := time.Unix(sec, 0).UTC().Format("2006-01-02 15:04:05") + "+00"
		require.Equal(t, want, string(AppendTimestamp(nil, sec)), "sec %d", sec)
	}
	// Every day across the generated range, at a time of day that varies.
	for sec := int64(createdFrom); sec < createdFrom+createdSpan+modifySpan; sec += 86400 + 3607 {
		want := time.Unix(sec, 0).UTC().Format("2006-01-02 15:04:05") + "+00"
		require.Equal(t, want, string(AppendTimestamp(nil, sec)))
	}
}

func TestAppendCents(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cents int64
		want  string
	}{
		{0, "0.00"}, {5, "0.05"}, {-5, "-0.05"}, {100, "1.00"}, {-123456, "-1234.56"}, {9999999, "99999.99"},
	} {
		require.Equal(t, tc.want, string(AppendCents(nil, tc.cents)))
	}
}

func TestWriteCSVIsDeterministicAndWellFormed(t *testing.T) {
	t.Parallel()
	var a, b bytes.Buffer
	n, err := WriteCSV(&a, 5000, DefaultSeed)
	require.NoError(t, err)
	require.Equal(t, int64(a.Len()), n)
	_, err = WriteCSV(&b, 5000, DefaultSeed)
	require.NoError(t, err)
	require.Equal(t, a.Bytes(), b.Bytes())

	var c bytes.Buffer
	_, err = WriteCSV(&c, 5000, DefaultSeed+1)
	require.NoError(t, err)
	require.NotEqual(t, a.Bytes(), c.Bytes(), "the seed must change the data")

	recs, err := csv.NewReader(&a).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 5001)
	require.Equal(t, ColumnNames, recs[0])
	quoted := 0
	for i, rec := range recs[1:] {
		require.Len(t, rec, 9)
		require.Equal(t, strconv.Itoa(i+1), rec[0], "ids are 1..N in order")
		if strings.Contains(rec[1], ",") {
			quoted++
		}
		require.True(t, strings.HasSuffix(rec[2], strconv.Itoa(i+1)+"@example.com"), rec[2])
		require.Contains(t, []string{"F", "M", "Unisex"}, rec[3])
		require.Less(t, rec[6], rec[7]+"~", "modified is not before created")
		require.Less(t, rec[7], "2026-01-01", "modified is before Horizon")
		require.Equal(t, "f", rec[8])
	}
	require.Positive(t, quoted, "some names need CSV quoting")
	require.Less(t, quoted, 100)
}

// TestPostgresReadsWhatWeWrite loads generated rows with COPY and checks that the server
// prints every value back exactly as written, so the data holds no rounding or time zone
// surprise for any loader.
func TestPostgresReadsWhatWeWrite(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	conn, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, CreateTable(`"t"`, true)+"; SET TimeZone = 'UTC'")
	require.NoError(t, err)

	var buf bytes.Buffer
	_, err = WriteCSV(&buf, 2000, DefaultSeed)
	require.NoError(t, err)
	want := buf.String()
	_, err = conn.Conn().PgConn().CopyFrom(ctx, strings.NewReader(want), `COPY "t" FROM STDIN WITH (FORMAT csv, HEADER true)`)
	require.NoError(t, err)

	var out bytes.Buffer
	_, err = conn.Conn().PgConn().CopyTo(ctx, &out, `COPY (SELECT * FROM "t" ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)`)
	require.NoError(t, err)
	require.Equal(t, want, out.String())

	_, err = conn.Exec(ctx, `TRUNCATE "t"; `+InsertOldVersion(`"t"`, 2000))
	require.NoError(t, err)
	var n, distinct int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT email) FROM "t" WHERE modified < $1`, Horizon).Scan(&n, &distinct))
	require.Equal(t, int64(2000), n)
	require.Equal(t, int64(2000), distinct)
}

func BenchmarkWriteCSV(b *testing.B) {
	var n int64
	for b.Loop() {
		w, _ := WriteCSV(discard{}, 100_000, DefaultSeed)
		n = w
	}
	b.SetBytes(n)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
