package etl_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

// lender records which of its two methods a pipeline called.
type lender struct{ called string }

func (l *lender) stream(how string) (etl.Stream, error) {
	l.called = how
	return etl.SliceStream(testSchema, []etl.Row{{int64(1), "a"}}), nil
}

func (l *lender) Extract(context.Context, *etl.Run) (etl.Stream, error) { return l.stream("Extract") }
func (l *lender) ExtractLent(context.Context, *etl.Run) (etl.Stream, error) {
	return l.stream("ExtractLent")
}

type borrower struct{}

func (borrower) BorrowsRows() {}
func (borrower) Load(_ context.Context, _ *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	var n int64
	for _, err := range in.Rows {
		if err != nil {
			return etl.LoadResult{}, err
		}
		n++
	}
	return etl.LoadResult{RowsWritten: n}, nil
}

// Lent rows go only straight from a lending source to a borrowing sink: a transform in
// between, or a sink that does not say it keeps nothing, gets rows it may keep.
func TestPipelineLendsRowsOnlyToABorrowingSinkWithoutTransforms(t *testing.T) {
	t.Parallel()
	keeper := etl.LoadFunc(borrower{}.Load)
	for _, tc := range []struct {
		name       string
		sink       etl.Loader
		transforms []etl.Transformer
		want       string
	}{
		{"borrowing sink", borrower{}, nil, "ExtractLent"},
		{"a transform between", borrower{}, []etl.Transformer{etl.Filter(func(etl.Row) bool { return true })}, "Extract"},
		{"a sink that may keep rows", keeper, nil, "Extract"},
	} {
		src := &lender{}
		p := etl.Pipeline{Name: "lend", Source: src, Sink: tc.sink, Transforms: tc.transforms}
		res, err := p.Run(context.Background(), etl.Window{})
		require.NoError(t, err, tc.name)
		require.Equal(t, int64(1), res.Stats.RowsWritten, tc.name)
		require.Equal(t, tc.want, src.called, tc.name)
	}
}
