package main

import (
	"bytes"
	"context"
	"database/sql"
	stdcsv "encoding/csv"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/etl/etltest"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/internal/redshifttest"
	"github.com/sluice-etl/sluice/sinks"
	"github.com/sluice-etl/sluice/sinks/redshift"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

// sample returns the embedded sample's rows, sorted by name: what every successful load of
// it must leave in the table.
func sample(t *testing.T) []etl.Row {
	t.Helper()
	recs, err := stdcsv.NewReader(bytes.NewReader(sampleCSV)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"name", "gender"}, recs[0])
	var rows []etl.Row
	for _, r := range recs[1:] {
		rows = append(rows, etl.Row{r[0], r[1]})
	}
	sortRows(rows)
	require.Len(t, rows, 100)
	return rows
}

func sortRows(rows []etl.Row) {
	sort.Slice(rows, func(i, j int) bool { return rows[i][0].(string) < rows[j][0].(string) })
}

// output is what one in-process run printed and returned.
type output struct {
	stdout, stderr string
	err            error
}

// runMain calls run as main does, with env as the whole environment.
func runMain(t *testing.T, env map[string]string, args ...string) output {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return output{stdout.String(), stderr.String(), err}
}

// sqliteRows reads the name_gender table of the SQLite file at path, sorted by name.
func sqliteRows(t *testing.T, path string) []etl.Row {
	t.Helper()
	db, err := sql.Open(sqlite.DriverName, path)
	require.NoError(t, err)
	defer db.Close()
	rs, err := db.Query("SELECT name, gender FROM name_gender")
	require.NoError(t, err)
	defer rs.Close()
	var rows []etl.Row
	for rs.Next() {
		var name, gender string
		require.NoError(t, rs.Scan(&name, &gender))
		rows = append(rows, etl.Row{name, gender})
	}
	require.NoError(t, rs.Err())
	sortRows(rows)
	return rows
}

// pgRows reads a name_gender table through q, sorted by name.
func pgRows(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []etl.Row {
	t.Helper()
	rs, err := q.Query(t.Context(), "SELECT name, gender FROM name_gender ORDER BY name COLLATE \"C\"")
	require.NoError(t, err)
	rows, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (etl.Row, error) {
		var name, gender string
		err := r.Scan(&name, &gender)
		return etl.Row{name, gender}, err
	})
	require.NoError(t, err)
	return rows
}

const cleanSummary = "  rows      100 read, 100 loaded, 0 rejected\n" +
	"  checks    passed: row_count, unique_key(name), duplicate_rows\n"

func TestDefaultsLoadTheSampleIntoSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "name_gender.db")
	for range 2 {
		out := runMain(t, nil, "-target", "sqlite:"+path)
		require.NoError(t, out.err, out.stderr)
		require.Empty(t, out.stderr, "a clean run logs nothing")
		require.True(t, strings.HasPrefix(out.stdout, "name_gender: loaded\n"+
			"  source    name_gender.csv (embedded sample)\n"+
			"  target    sqlite:"+path+" (table name_gender, full refresh)\n"+cleanSummary+
			"  duration  "), out.stdout)
		etltest.RequireRows(t, sample(t), sqliteRows(t, path), "every run leaves the same table")
	}
	runs, err := func() ([]sinks.RunRecord, error) {
		db, err := sqlite.Open(path)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		return (&sqlite.State{DB: db}).Runs(t.Context(), table, 0)
	}()
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, "success", runs[0].Status)
	require.Equal(t, "data-team", runs[0].Owner)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the example once per test process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "name_gender-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "name_gender")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestBinaryWithNothingConfigured runs the program as CI and a newcomer do: no flags, no
// environment, in a fresh directory.
func TestBinaryWithNothingConfigured(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for range 2 {
		cmd := exec.Command(binary(t))
		cmd.Dir, cmd.Env = dir, []string{}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), stderr.String())
		require.Empty(t, stderr.String())
		require.Contains(t, stdout.String(), "  target    sqlite:./name_gender.db (table name_gender, full refresh)\n"+cleanSummary)
		etltest.RequireRows(t, sample(t), sqliteRows(t, filepath.Join(dir, "name_gender.db")))
	}

	cmd := exec.Command(binary(t), "-target", "mysql://x")
	cmd.Dir, cmd.Env = dir, []string{}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode(), "a usage mistake exits 2")
	require.Contains(t, string(out), `target "mysql://x": want sqlite:PATH, postgres://... or redshift://...`)

	cmd = exec.Command(binary(t), "-source", filepath.Join(dir, "missing.csv"))
	cmd.Dir, cmd.Env = dir, []string{}
	out, err = cmd.CombinedOutput()
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode(), "a failed run exits 1")
	require.Contains(t, string(out), "name_gender: FAILED at extract, target unchanged")
	require.Contains(t, string(out), "missing.csv")
	etltest.RequireRows(t, sample(t), sqliteRows(t, filepath.Join(dir, "name_gender.db")))
}

// dupCSV has one name twice, spaced differently: the transform trims it, and the key then
// repeats.
const dupCSV = "name,gender\nAnn,F\nBob,M\n Ann ,Unisex\n"

func TestDuplicateNameKeepsThePreviousTableSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "name_gender.db")
	require.NoError(t, runMain(t, nil, "-target", "sqlite:"+path).err)
	dup := filepath.Join(dir, "dup.csv")
	require.NoError(t, os.WriteFile(dup, []byte(dupCSV), 0o600))

	out := runMain(t, map[string]string{"SLUICE_SOURCE": dup, "SLUICE_TARGET": "sqlite:" + path})
	require.Error(t, out.err)
	require.Contains(t, out.err.Error(), "name=Ann")
	etltest.RequireCheckFailed(t, out.err, "unique_key")
	require.Contains(t, out.stdout, "name_gender: FAILED at check, target unchanged\n  source    "+dup+"\n")
	require.Contains(t, out.stdout, "  rows      3 read, 0 loaded, 0 rejected\n")
	etltest.RequireRows(t, sample(t), sqliteRows(t, path), "the failed load must leave the previous table")
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)

	for range 2 {
		out := runMain(t, map[string]string{"SLUICE_TARGET": db.URL})
		require.NoError(t, out.err, out.stderr)
		require.Contains(t, out.stdout, cleanSummary)
		etltest.RequireRows(t, sample(t), pgRows(t, db.Pool))
	}
	var ddl string
	require.NoError(t, db.Pool.QueryRow(t.Context(), `
		SELECT string_agg(column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', ''), ', ' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'name_gender'`, db.Schema).Scan(&ddl))
	require.Equal(t, "name character varying(32), gender character varying(8)", ddl)

	dup := filepath.Join(t.TempDir(), "dup.csv")
	require.NoError(t, os.WriteFile(dup, []byte(dupCSV), 0o600))
	out := runMain(t, nil, "-source", dup, "-target", db.URL)
	require.Error(t, out.err)
	require.Contains(t, out.err.Error(), "(name)=(Ann)")
	etltest.RequireCheckFailed(t, out.err, "unique_key")
	require.Contains(t, out.stdout, "FAILED at check, target unchanged")
	etltest.RequireRows(t, sample(t), pgRows(t, db.Pool), "the failed load must leave the previous table")
}

func TestPasswordsAreNotPrinted(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1, so the load fails after the target is named.
	out := runMain(t, nil, "-target", "postgres://etl:s3cret@127.0.0.1:1/warehouse?connect_timeout=5")
	require.Error(t, out.err)
	require.NotContains(t, out.err.Error()+out.stdout+out.stderr, "s3cret")
	require.Contains(t, out.err.Error(), "postgres://etl:xxxxx@127.0.0.1:1/warehouse")

	out = runMain(t, nil, "-target", "redshift://etl:s3cret@127.0.0.1:1/dev", "-s3-bucket", "b")
	require.Error(t, out.err)
	require.NotContains(t, out.err.Error()+out.stdout+out.stderr, "s3cret")
}

func TestRedshiftDSN(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want, err string }{
		{in: "redshift://etl:pw@c.example.com/dev", want: "postgres://etl:pw@c.example.com:5439/dev?sslmode=require"},
		{in: "redshift://etl@c.example.com:5440/dev?sslmode=verify-full", want: "postgres://etl@c.example.com:5440/dev?sslmode=verify-full"},
		{in: "redshift:///dev", err: "want redshift://user:password@host[:5439]/database"},
		{in: "postgres://h/db", err: "want redshift://"},
	} {
		got, err := redshiftDSN(tt.in)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
	}
}

func FuzzRedshiftDSN(f *testing.F) {
	for _, s := range []string{"redshift://u:pw@h/db", "redshift://h:1/d?sslmode=disable", "redshift:///x", "redshift://[::1]/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dsn, err := redshiftDSN(s)
		if err != nil {
			return
		}
		u, err := url.Parse(dsn)
		if err != nil || u.Scheme != "postgres" || u.Port() == "" || !u.Query().Has("sslmode") {
			t.Fatalf("redshiftDSN(%q) = %q, not a postgres URL with a port and sslmode", s, dsn)
		}
	})
}

func TestSourceOverHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/name_gender.csv" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(sampleCSV)
	}))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "ng.db")
	out := runMain(t, nil, "-source", srv.URL+"/name_gender.csv?sig=secret", "-target", "sqlite:"+path)
	require.NoError(t, out.err, out.stderr)
	require.Contains(t, out.stdout, "  source    "+srv.URL+"/name_gender.csv?...\n")
	require.NotContains(t, out.stdout, "secret")
	etltest.RequireRows(t, sample(t), sqliteRows(t, path))

	out = runMain(t, nil, "-source", srv.URL+"/gone.csv", "-target", "sqlite:"+path)
	require.ErrorContains(t, out.err, "404")
	etltest.RequireRows(t, sample(t), sqliteRows(t, path))
}

// TestSourceOnS3 reads the CSV from the in-process S3 server. It sets AWS variables for
// the SDK's credential chain, so it cannot run in parallel.
func TestSourceOnS3(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s3srv, err := redshifttest.StartS3("names")
	require.NoError(t, err)
	t.Cleanup(s3srv.Close)
	_, err = s3srv.Client.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String("names"), Key: aws.String("in/name_gender.csv"), Body: bytes.NewReader(sampleCSV),
	})
	require.NoError(t, err)

	path := filepath.Join(t.TempDir(), "ng.db")
	out := runMain(t, nil, "-source", "s3://names/in/name_gender.csv", "-s3-endpoint", s3srv.Endpoint,
		"-region", redshifttest.Region, "-target", "sqlite:"+path)
	require.NoError(t, out.err, out.stderr)
	require.Contains(t, out.stdout, "  source    s3://names/in/name_gender.csv\n")
	etltest.RequireRows(t, sample(t), sqliteRows(t, path))
}

func TestRejectsAreReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "names.csv")
	require.NoError(t, os.WriteFile(src, []byte("gender,name\nF, Ann\nQ,Bob\n\"M\",\"Cy\"\nM\n"), 0o600))
	path := filepath.Join(dir, "ng.db")

	out := runMain(t, nil, "-source", src, "-target", "sqlite:"+path)
	require.NoError(t, out.err, out.stderr)
	require.Contains(t, out.stdout, "  rows      4 read, 2 loaded, 2 rejected\n")
	require.Contains(t, out.stdout, `rejected `+src+`:3: column "gender": gender "Q" is not F, M or Unisex`)
	require.Contains(t, out.stdout, `wrong number of fields`)
	etltest.RequireRows(t, []etl.Row{{"Ann", "F"}, {"Cy", "M"}}, sqliteRows(t, path))

	out = runMain(t, nil, "-source", src, "-target", "sqlite:"+path, "-max-bad-rows", "1")
	require.Error(t, out.err)
	require.Contains(t, out.stdout, "FAILED")
	etltest.RequireRows(t, []etl.Row{{"Ann", "F"}, {"Cy", "M"}}, sqliteRows(t, path))
}

func TestUsage(t *testing.T) {
	t.Parallel()
	var ue *usageError
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-max-bad-rows", "-1"}, {"-target", "mysql://h/db"},
		{"-target", "redshift://h/db"}} {
		out := runMain(t, nil, args...)
		require.ErrorAs(t, out.err, &ue, "%v", args)
	}
	out := runMain(t, nil, "-h")
	require.ErrorIs(t, out.err, flag.ErrHelp)
	require.Contains(t, out.stderr, "-source")

	cfg, err := parse([]string{"-target", "sqlite:b.db"}, func(k string) string {
		return map[string]string{"SLUICE_TARGET": "sqlite:a.db", "SLUICE_SOURCE": "x.csv"}[k]
	}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "sqlite:b.db", cfg.target, "a flag wins over its variable")
	require.Equal(t, "x.csv", cfg.source)
}

func TestQuotesAndEmptyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ng.db")
	quoted := filepath.Join(dir, "quoted.csv")
	require.NoError(t, os.WriteFile(quoted, []byte("name,gender\n\"O'Brien, Jr\",M\n\"Bob'); DROP TABLE name_gender--\",M\n"), 0o600))
	out := runMain(t, nil, "-source", quoted, "-target", "sqlite:"+path)
	require.NoError(t, out.err, out.stderr)
	etltest.RequireRows(t, []etl.Row{{"Bob'); DROP TABLE name_gender--", "M"}, {"O'Brien, Jr", "M"}}, sqliteRows(t, path))

	empty := filepath.Join(dir, "empty.csv")
	require.NoError(t, os.WriteFile(empty, []byte("name,gender\n"), 0o600))
	out = runMain(t, nil, "-source", empty, "-target", "sqlite:"+path)
	require.ErrorIs(t, out.err, etl.ErrEmpty)
	etltest.RequireRows(t, []etl.Row{{"Bob'); DROP TABLE name_gender--", "M"}, {"O'Brien, Jr", "M"}}, sqliteRows(t, path))
}

// useHarness points the program's Redshift connection at h for the rest of the test. It
// sets the AWS variables the S3 client's credential chain reads, so callers cannot run in
// parallel.
func useHarness(t *testing.T, h *redshifttest.Harness) []string {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	saved := redshiftConnect
	redshiftConnect = func(_ context.Context, dsn string) (redshift.DB, error) {
		require.Equal(t, "postgres://etl:s3cret@cluster.example.com:5439/dev?sslmode=require", dsn)
		return h, nil
	}
	t.Cleanup(func() { redshiftConnect = saved })
	return []string{"-target", "redshift://etl:s3cret@cluster.example.com/dev",
		"-s3-bucket", h.Bucket, "-s3-prefix", "etl", "-s3-endpoint", h.Endpoint, "-region", redshifttest.Region,
		"-iam-role", "arn:aws:iam::123456789012:role/redshift-copy"}
}

func TestRedshift(t *testing.T) {
	h := redshifttest.New(t)
	args := useHarness(t, h)

	for range 2 {
		out := runMain(t, nil, args...)
		require.NoError(t, out.err, out.stderr)
		require.Contains(t, out.stdout, "  target    redshift://etl:xxxxx@cluster.example.com/dev (table name_gender, full refresh)\n"+cleanSummary)
		require.NotContains(t, out.stdout+out.stderr, "s3cret")
		etltest.RequireRows(t, sample(t), pgRows(t, h.Pool))
	}
	keys, err := h.S3.Keys(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, keys, "staged files are deleted after the commit")

	var copies int
	for _, s := range h.Statements() {
		require.NotContains(t, strings.ToUpper(s), "TRUNCATE", "TRUNCATE commits on Redshift")
		if redshifttest.IsS3Copy(s) {
			copies++
			require.Contains(t, s, "s3://"+h.Bucket+"/etl/name_gender/")
			require.Contains(t, s, "arn:aws:iam::123456789012:role/redshift-copy")
		}
	}
	require.Equal(t, 2, copies, "one COPY per run")
}

// TestRedshiftDuplicateFailsTheUniqueKeyCheck: Redshift accepts a PRIMARY KEY and does not
// enforce it. The harness runs on PostgreSQL, which would, so the table is declared here
// without one, as Redshift effectively has it; the unique-key check must catch the
// duplicate and roll back.
func TestRedshiftDuplicateFailsTheUniqueKeyCheck(t *testing.T) {
	h := redshifttest.New(t)
	args := useHarness(t, h)
	_, err := h.Pool.Exec(t.Context(), `CREATE TABLE name_gender (name varchar(32), gender varchar(8))`)
	require.NoError(t, err)
	out := runMain(t, nil, args...)
	require.NoError(t, out.err, out.stderr)

	dup := filepath.Join(t.TempDir(), "dup.csv")
	require.NoError(t, os.WriteFile(dup, []byte(dupCSV), 0o600))
	out = runMain(t, nil, append(args, "-source", dup)...)
	require.Error(t, out.err)
	res := etltest.RequireCheckFailed(t, out.err, "unique_key(name)")
	require.Contains(t, strings.Join(res.Samples, "; "), "Ann")
	require.Contains(t, out.err.Error(), "Ann")
	require.Contains(t, out.stdout, "name_gender: FAILED at check, target unchanged\n")
	require.Contains(t, out.stdout, "  checks    passed: row_count, duplicate_rows\n  checks    FAILED: unique_key(name)\n")
	etltest.RequireRows(t, sample(t), pgRows(t, h.Pool), "the failed load must leave the previous table")
}

// Credentials in an s3:// source are refused, and a presigned URL's signature appears
// nowhere in the program's output, its final error line included.
func TestURLSecretsAreNotPrinted(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "expired", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	for _, source := range []string{
		"s3://AKIAEXAMPLE:s3cret@bucket/name_gender.csv",
		"s3://bucket/name_gender.csv?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=s3cret",
		srv.URL + "/name_gender.csv?X-Amz-Credential=AKIAEXAMPLE%2F20260101&X-Amz-Security-Token=s3cret&X-Amz-Signature=s3cret",
		"https://127.0.0.1:1/name_gender.csv?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=s3cret",
	} {
		cmd := exec.Command(binary(t), "-source", source, "-target", "sqlite:"+filepath.Join(dir, "ng.db"))
		cmd.Dir, cmd.Env = dir, []string{}
		out, err := cmd.CombinedOutput()
		require.Error(t, err, source)
		require.Contains(t, string(out), "name_gender: ", source)
		require.NotContains(t, string(out), "s3cret", source)
		require.NotContains(t, string(out), "AKIAEXAMPLE", source)
	}
}
