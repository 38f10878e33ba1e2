package redshiftcopy_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/redshiftcopy"
	"github.com/sluice-etl/sluice/internal/redshifttest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got)
}

func TestCopySQLGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		copy redshiftcopy.Copy
	}{
		{"copy_basic", redshiftcopy.Copy{
			Table:       redshiftcopy.Table{Schema: "analytics", Name: "name_gender"},
			Columns:     []string{"name", "gender"},
			ManifestURL: "s3://sluice-staging/etl/name_gender/0123abcd/manifest.json",
			IAMRole:     "arn:aws:iam::123456789012:role/redshift-load",
		}},
		{"copy_default_role_region", redshiftcopy.Copy{
			Table:       redshiftcopy.Table{Name: "users"},
			Columns:     []string{"id", "email"},
			ManifestURL: "s3://b/p/users/r1/manifest.json",
			Region:      "eu-west-1",
		}},
		{"copy_hostile_names", redshiftcopy.Copy{
			Table:       redshiftcopy.Table{Schema: `we"ird`, Name: `t'; DROP TABLE x; --`},
			Columns:     []string{`a"b`, `c,d`, `e\f`},
			ManifestURL: `s3://b/it's\here/manifest.json`,
			IAMRole:     `arn:aws:iam::1:role/o'brien\`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sql := c.copy.SQL()
			golden(t, c.name, sql+"\n")
			parsed, err := redshifttest.ParseCopy(sql)
			require.NoError(t, err, "the harness accepts every COPY the sink builds")
			require.Equal(t, c.copy.ManifestURL, parsed.From)
			require.True(t, parsed.Manifest && parsed.CSV && parsed.GZIP && parsed.HasNull)
			require.Equal(t, redshiftcopy.NullMarker, parsed.Null)
		})
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"users":  `"users"`,
		`a"b`:    `"a""b"`,
		`""`:     `""""""`,
		"":       `""`,
		"日本":     `"日本"`,
		"a\x00b": "\"a\x00b\"",
	} {
		require.Equal(t, want, redshiftcopy.QuoteIdentifier(in), in)
	}
	for in, want := range map[string]string{
		"s3://b/k": `'s3://b/k'`,
		`it's`:     `'it''s'`,
		`a\b`:      `'a\\b'`,
		`\'`:       `'\\'''`,
		"":         `''`,
	} {
		require.Equal(t, want, redshiftcopy.QuoteLiteral(in), in)
	}
}

// FuzzQuote checks that whatever the table, column, URL and role, the COPY statement
// parses back (with Redshift's literal rules) to exactly the values that went in, so no
// input can end a literal or identifier early and inject SQL.
func FuzzQuote(f *testing.F) {
	f.Add("t", "c", "k/manifest.json", "arn:aws:iam::1:role/r")
	f.Add(`a"b`, `"`, `it's`, `\`)
	f.Add(`x"; DROP TABLE y; --`, "''", `\'; COPY`, `'\\'`)
	f.Fuzz(func(t *testing.T, table, col, key, role string) {
		if table == "" || col == "" || role == "" || strings.ContainsRune(table+col, 0) {
			t.Skip()
		}
		c := redshiftcopy.Copy{Table: redshiftcopy.Table{Schema: "s", Name: table}, Columns: []string{col, "z"},
			ManifestURL: "s3://b/" + key, IAMRole: role}
		p, err := redshifttest.ParseCopy(c.SQL())
		require.NoError(t, err, c.SQL())
		require.Equal(t, []string{"s", table}, p.Table)
		require.Equal(t, []string{col, "z"}, p.Columns)
		require.Equal(t, c.ManifestURL, p.From)
		require.Equal(t, role, p.IAMRole)
	})
}
