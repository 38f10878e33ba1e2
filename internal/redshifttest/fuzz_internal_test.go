package redshifttest

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCopy(t *testing.T) {
	t.Parallel()
	c, err := ParseCopy(`copy "Analytics".users ("Id", name) from 's3://b/k/manifest.json' iam_role 'arn:x' region as 'eu-west-1'
		manifest format as csv quote as '"' gzip ignoreheader as 2 null as '\\N' emptyasnull timeformat 'auto' dateformat as 'YYYY-MM-DD' delimiter ',' compupdate off statupdate on;`)
	require.NoError(t, err)
	require.Equal(t, &CopyCommand{
		Table: []string{"Analytics", "users"}, Columns: []string{"Id", "name"}, From: "s3://b/k/manifest.json",
		IAMRole: "arn:x", Region: "eu-west-1", Manifest: true, CSV: true, GZIP: true, IgnoreHeader: 2,
		Null: `\N`, HasNull: true, EmptyAsNull: true, TimeFormat: "auto", DateFormat: "YYYY-MM-DD",
	}, c)

	for sql, msg := range map[string]string{
		`COPY t FROM 's3://b/k' IAM_ROLE default CSV MAXERROR 5`:            "unknown option MAXERROR",
		`COPY t FROM 's3://b/k' IAM_ROLE default CSV CSV`:                   "given twice",
		`COPY t FROM 's3://b/k' CSV`:                                        "no IAM_ROLE",
		`COPY t FROM 's3://b/k' IAM_ROLE default`:                           "only CSV",
		`COPY t FROM 's3://b/k' IAM_ROLE default FORMAT AS PARQUET`:         "unsupported FORMAT",
		`COPY t FROM '/tmp/x' IAM_ROLE default CSV`:                         "'s3://'",
		`COPY t FROM 's3://b/k IAM_ROLE default CSV`:                        "unterminated",
		`COPY t FROM 's3://b/k' IAM_ROLE default CSV IGNOREHEADER x`:        "takes a number",
		`COPY t FROM 's3://b/k' IAM_ROLE default CSV DELIMITER '|'`:         "DELIMITER",
		`COPY t (a, FROM 's3://b/k' IAM_ROLE default CSV`:                   "column list",
		`COPY t FROM 's3://b/k' IAM_ROLE default CSV QUOTE AS '%'`:          "QUOTE",
		`COPY t FROM 's3://b/k' IAM_ROLE default CSV ACCEPTINVCHARS AS '?'`: "unknown option",
		`INSERT INTO t VALUES (1)`:                                          "not a COPY",
	} {
		_, err := ParseCopy(sql)
		require.ErrorContains(t, err, msg, sql)
	}
	require.True(t, IsS3Copy(`copy t from 's3://b/k' iam_role default csv`))
	require.False(t, IsS3Copy(`COPY t FROM STDIN`))
	require.False(t, IsS3Copy(`SELECT 'COPY t FROM ''s3://'''`))
}

// FuzzParseCopy checks that the COPY parser never panics and that what it accepts has a
// table, an s3:// source and a role.
func FuzzParseCopy(f *testing.F) {
	f.Add(`COPY "s"."t" ("a", "b") FROM 's3://b/k/manifest.json' IAM_ROLE 'arn:x' MANIFEST CSV GZIP NULL AS '\\N' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF`)
	f.Add(`copy t from 's3://b/p' iam_role default csv ignoreheader 1 emptyasnull`)
	f.Add(`COPY t FROM 's3://b/it''s\'' IAM_ROLE default FORMAT AS CSV QUOTE AS '"'`)
	f.Fuzz(func(t *testing.T, sql string) {
		c, err := ParseCopy(sql)
		if err != nil {
			return
		}
		require.NotEmpty(t, c.Table)
		require.True(t, strings.HasPrefix(c.From, "s3://"))
		require.NotEmpty(t, c.IAMRole)
		require.True(t, c.CSV)
		require.True(t, IsS3Copy(sql))
	})
}

func readAllCSV(in string) ([][]field, error) {
	r := newCSVReader(strings.NewReader(in))
	var out [][]field
	for {
		rec, err := r.read(nil)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func TestCSVReader(t *testing.T) {
	t.Parallel()
	got, err := readAllCSV("a,\"b,\"\"c\"\"\",\n\"x\r\ny\",\"\",z\r\nlast")
	require.NoError(t, err)
	require.Equal(t, [][]field{
		{{"a", false}, {`b,"c"`, true}, {"", false}},
		{{"x\r\ny", true}, {"", true}, {"z", false}},
		{{"last", false}},
	}, got)
	for _, bad := range []string{"a\"b\n", "\"open\n", "\"a\"b\n"} {
		_, err := readAllCSV(bad)
		require.Error(t, err, "%q", bad)
	}
	r := newCSVReader(strings.NewReader("h1\nh2\na\n"))
	require.NoError(t, r.skipLines(2))
	rec, err := r.read(nil)
	require.NoError(t, err)
	require.Equal(t, []field{{"a", false}}, rec)
	require.Equal(t, 3, r.line)
}

// FuzzReadCSV checks that any fields written the way the Redshift sink writes them
// (quoted, quotes doubled) read back byte for byte, and that no input panics the reader.
func FuzzReadCSV(f *testing.F) {
	f.Add("a", "b,c", "line\r\nbreak")
	f.Add("", `"`, `""`)
	f.Add("\r", "\n", ",")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		_, _ = readAllCSV(a + b + c)
		q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
		got, err := readAllCSV(q(a) + "," + q(b) + "," + q(c) + "\n" + q(c) + ",x,\n")
		require.NoError(t, err)
		require.Equal(t, [][]field{
			{{a, true}, {b, true}, {c, true}},
			{{c, true}, {"x", false}, {"", false}},
		}, got)
	})
}

// FuzzFoldIdentifiers checks that folding lowers exactly the letters of quoted
// identifiers: string literals and everything outside quotes stay as they were, folding
// twice changes nothing, and a statement the tokenizer reads keeps its shape.
func FuzzFoldIdentifiers(f *testing.F) {
	f.Add(`SELECT "Name" FROM "Users" WHERE x = 'Say "HI"'`)
	f.Add(`COPY "A""B".t ("C") FROM 's3://b/K''s\'' IAM_ROLE default CSV`)
	f.Add(`INSERT INTO t VALUES ('it''s', "X") -- "Comment"`)
	f.Add(`"unterminated`)
	f.Add(`'\\' "Q"`)
	f.Fuzz(func(t *testing.T, sql string) {
		got := foldIdentifiers(sql)
		if len(got) != len(sql) {
			t.Fatalf("length changed: %q -> %q", sql, got)
		}
		if again := foldIdentifiers(got); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", sql, got, again)
		}
		for i := 0; i < len(sql); i++ {
			if got[i] != sql[i] && !(sql[i] >= 'A' && sql[i] <= 'Z' && got[i] == sql[i]+'a'-'A') {
				t.Fatalf("byte %d changed from %q to %q", i, sql[i], got[i])
			}
		}
		toks, err := tokenize(sql)
		if err != nil {
			return
		}
		folded, err := tokenize(got)
		if err != nil || len(folded) != len(toks) {
			t.Fatalf("tokens changed: %v / %v (%v)", toks, folded, err)
		}
		for i, tk := range toks {
			switch tk.kind {
			case tokString, tokWord, tokNumber, tokPunct:
				if folded[i] != tk {
					t.Fatalf("token %d changed: %v -> %v", i, tk, folded[i])
				}
			case tokIdent:
				if folded[i].text != foldName(tk.text) {
					t.Fatalf("identifier %q folded to %q", tk.text, folded[i].text)
				}
			}
		}
	})
}
