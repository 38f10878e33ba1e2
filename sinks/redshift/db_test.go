package redshift_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/redshift"
)

func TestConnectNeverShowsThePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, dsn := range []string{
		"postgres://etl:s3cret@127.0.0.1:1/dev?connect_timeout=2",
		"host=127.0.0.1 port=1 user=etl password=s3cret connect_timeout=2",
		"postgres://etl:s3cret@127.0.0.1:1/dev?sslmode=bogus",
		"host=127.0.0.1 port=1 user=etl password='s3cret and more' sslmode=bogus",
		"host=127.0.0.1 port=1 user=etl password='s3cret and more' connect_timeout=2",
	} {
		_, err := redshift.Connect(ctx, dsn)
		require.Error(t, err)
		require.NotContains(t, err.Error(), "s3cret")
		require.NotContains(t, fmt.Sprintf("%+v", err), "s3cret")
	}
}

func TestConnectExecMode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := redshift.Connect(ctx, pgtest.URL(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.Equal(t, pgx.QueryExecModeExec, conn.Config().DefaultQueryExecMode)
	var n int64
	var s string
	require.NoError(t, conn.QueryRow(ctx, "SELECT $1::bigint + 1, $2::text", int64(41), "x").Scan(&n, &s))
	require.Equal(t, int64(42), n)
	require.Equal(t, "x", s)
}

func TestIsRetryable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "XX000", Message: "1023", Detail: "Serializable isolation violation on table - 1"}, true},
		{fmt.Errorf("commit: %w", &pgconn.PgError{Code: "XX000", Message: "1023"}), true},
		{&pgconn.PgError{Code: "XX000", Message: "other", Detail: "Serializable isolation violation on table"}, true},
		{&pgconn.PgError{Code: "40001", Message: "could not serialize access"}, true},
		{&pgconn.PgError{Code: "XX000", Message: "Load into table 't' failed."}, false},
		{&pgconn.PgError{Code: "23505"}, false},
		{errors.New("ERROR: 1023"), false},
		{nil, false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, redshift.IsRetryable(c.err), "%v", c.err)
	}
}

// FuzzConnConfig checks that no password, quoted or in a URL, survives in the errors of
// ConnConfig; internal/redact fuzzes the redaction itself.
func FuzzConnConfig(f *testing.F) {
	f.Add("s3cret")
	f.Add("p@ss:w/rd")
	f.Add("with space")
	f.Add(`it's a \ back`)
	f.Fuzz(func(t *testing.T, pw string) {
		if len(pw) < 4 || strings.Contains("xxxxx", pw) || strings.ContainsAny(pw, "\x00") {
			t.Skip()
		}
		u := "postgres://" + url.UserPassword("etl", pw).String() + "@127.0.0.1:1/dev?sslmode=bogus"
		// Quoted, a keyword password may hold anything but NUL.
		quoted := "host=127.0.0.1 port=1 user=etl password='" +
			strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "' sslmode=bogus"
		for _, dsn := range []string{u, quoted} {
			if _, err := redshift.Connect(context.Background(), dsn); err != nil {
				require.NotContains(t, err.Error(), pw)
			}
		}
	})
}

// A load that cannot reach its cluster keeps the DSN's password out of its error and its
// logs, debug level included, whatever form the DSN takes.
func TestLoadNeverLogsThePassword(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://etl:s3cret@127.0.0.1:1/dev?connect_timeout=2",
		"host=127.0.0.1 port=1 user=etl password='s3cret phrase' connect_timeout=2",
		"postgres://etl@127.0.0.1:1/dev?password=s3cret&sslmode=bogus",
	} {
		var logs strings.Builder
		p := &etl.Pipeline{
			Name:   "users",
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
				return etl.SliceStream(etl.Schema{{Name: "id", Type: etl.TypeInt64}}, []etl.Row{{int64(1)}}), nil
			}),
			Sink: &redshift.FullRefresh{Target: redshift.Target{
				DSN: dsn, Table: "users", Staging: redshift.StageConfig{Bucket: "b"},
			}},
		}
		_, err := p.Run(context.Background(), etl.Window{})
		require.Error(t, err)
		require.NotEmpty(t, logs.String(), "the failure is logged")
		require.NotContains(t, err.Error(), "s3cret")
		require.NotContains(t, logs.String(), "s3cret")
	}
}
