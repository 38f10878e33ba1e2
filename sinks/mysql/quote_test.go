package mysql

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/mysqltest"
)

// unquote reads one backtick-quoted identifier from the front of s, as MySQL's lexer
// does, and returns it with what follows.
func unquote(s string) (ident, rest string, ok bool) {
	if !strings.HasPrefix(s, "`") {
		return "", s, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '`' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '`' {
			b.WriteByte('`')
			i++
			continue
		}
		return b.String(), s[i+1:], true
	}
	return "", "", false
}

// FuzzQuoteIdent checks that a quoted identifier is exactly one token that reads back as
// the name, whatever the name holds, so no name can end the quoting early.
func FuzzQuoteIdent(f *testing.F) {
	for _, s := range []string{"id", "`", "``", "a`b", "x` INT); DROP TABLE t; --", `Na"me; x`, "é", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		q := quoteIdent(name)
		got, rest, ok := unquote(q)
		if !ok || got != name || rest != "" {
			t.Fatalf("%q quotes as %q, which reads back as %q with %q left", name, q, got, rest)
		}
		if name == "" {
			return // an empty schema means the current database
		}
		got, rest, ok = unquote(qualify(name, name))
		if !ok || got != name || !strings.HasPrefix(rest, ".`") {
			t.Fatalf("qualify(%q) reads back as %q then %q", name, got, rest)
		}
	})
}

// validColumnName reports whether MySQL accepts name as a column name: 1 to 64
// characters of the Basic Multilingual Plane, no NUL, not ending in white space.
func validColumnName(name string) bool {
	if !utf8.ValidString(name) || name == "" || utf8.RuneCountInString(name) > 64 ||
		strings.ContainsRune(" \t\n\v\f\r", rune(name[len(name)-1])) {
		return false
	}
	for _, r := range name {
		if r == 0 || r > 0xFFFF {
			return false
		}
	}
	return true
}

// FuzzQuotedColumnsLoad loads a row into a column of any name MySQL accepts, through the
// bulk path and the checks, which quote it in LOAD DATA's column list and in their SQL.
// With -fuzz, Go stops its workers without running their cleanup, so each leaves its
// sluice_test_* database behind; drop them afterwards.
func FuzzQuotedColumnsLoad(f *testing.F) {
	for _, s := range []string{"v", "`", "a`b`", "x` INT); DROP TABLE t; --", `Na"me; x`, "ünïcødé", "@sluice_1", "\\N", "a\tb"} {
		f.Add(s)
	}
	db := mysqltest.New(f)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, name string) {
		if !validColumnName(name) || strings.EqualFold(name, "id") {
			t.Skip()
		}
		ctx := context.Background()
		table := fmt.Sprintf("q%d", n.Add(1))
		schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: name, Type: etl.TypeText}}
		sink := &FullRefresh{Target: Target{DB: db.DB, Table: table, Create: true, Key: []string{"id"},
			Checks: []checks.Check{checks.UniqueKey("id"), checks.NotNull(name), checks.DuplicateRows{}}}}
		p := &etl.Pipeline{Name: "quote " + table, Sink: sink, Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(schema, []etl.Row{{int64(1), name}}), nil
		})}
		_, err := p.Run(ctx, etl.Window{})
		require.NoError(t, err, "column %q", name)
		var got string
		require.NoError(t, db.DB.QueryRowContext(ctx, "SELECT "+quoteIdent(name)+" FROM "+quoteIdent(table)).Scan(&got))
		require.Equal(t, name, got)
	})
}
