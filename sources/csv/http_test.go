package csv_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/csv"
)

const nameGender = "name,gender\nAdaleigh,F\nAmryn,Unisex\nApurva,F\n"

var nameGenderRows = []etl.Row{{"Adaleigh", "F"}, {"Amryn", "Unisex"}, {"Apurva", "F"}}

func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func httpServer(t *testing.T) *httptest.Server {
	t.Helper()
	packed := gzipped(t, nameGender)
	mux := http.NewServeMux()
	mux.HandleFunc("/name_gender.csv", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(nameGender))
	})
	// A gzip file served as such, named without .gz.
	mux.HandleFunc("/packed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(packed)
	})
	// Transfer compression, which net/http undoes itself.
	mux.HandleFunc("/encoded.csv", func(w http.ResponseWriter, r *http.Request) {
		require.Contains(t, r.Header.Get("Accept-Encoding"), "gzip")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(packed)
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	// Promises more than it sends, then hangs up.
	mux.HandleFunc("/truncated.csv", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		require.NoError(t, err)
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(nameGender)+100, nameGender)
		_ = buf.Flush()
		_ = conn.Close()
	})
	// Chunked, and aborted before the final chunk.
	mux.HandleFunc("/aborted.csv", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(nameGender))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	// Sends the header, then nothing until the client gives up.
	mux.HandleFunc("/stalled.csv", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("name,gender\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	srv := httpServer(t)
	for _, p := range []string{"/name_gender.csv", "/packed", "/encoded.csv"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			rows, _, err := read(t, csv.Config{Path: srv.URL + p, Schema: textSchema})
			require.NoError(t, err)
			require.Equal(t, nameGenderRows, rows)
		})
	}

	t.Run("lineage", func(t *testing.T) {
		t.Parallel()
		src, err := csv.New(csv.Config{Path: srv.URL + "/name_gender.csv?sig=abc", Schema: textSchema})
		require.NoError(t, err)
		require.Equal(t, srv.URL+"/name_gender.csv", src.Datasets()[0].String())
	})

	t.Run("404", func(t *testing.T) {
		t.Parallel()
		_, _, err := read(t, csv.Config{Path: srv.URL + "/missing.csv", Schema: textSchema})
		require.ErrorIs(t, err, csv.ErrNotFound)
		var he *csv.HTTPError
		require.ErrorAs(t, err, &he)
		require.Equal(t, http.StatusNotFound, he.StatusCode)
		require.EqualError(t, err, "GET "+srv.URL+"/missing.csv: HTTP status 404 Not Found")
	})

	t.Run("500 hides the query", func(t *testing.T) {
		t.Parallel()
		_, _, err := read(t, csv.Config{Path: srv.URL + "/broken?token=secret", Schema: textSchema})
		require.NotErrorIs(t, err, csv.ErrNotFound)
		require.ErrorContains(t, err, srv.URL+"/broken: HTTP status 500")
		require.NotContains(t, err.Error(), "secret")
	})

	for _, p := range []string{"/truncated.csv", "/aborted.csv"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			rows, _, err := read(t, csv.Config{Path: srv.URL + p, Schema: textSchema})
			var pe *csv.ParseError
			require.ErrorAs(t, err, &pe, "a body cut short is an error, not the end of the data")
			require.Equal(t, srv.URL+p, pe.File)
			require.ErrorContains(t, err, "unexpected EOF")
			require.Len(t, rows, 3)
		})
	}

	t.Run("stalled", func(t *testing.T) {
		t.Parallel()
		_, _, err := read(t, csv.Config{Path: srv.URL + "/stalled.csv", Schema: textSchema, Timeout: 100 * time.Millisecond})
		require.ErrorContains(t, err, srv.URL+"/stalled.csv: line 2: no data received within the timeout (100ms)")
	})

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL + "/x.csv?token=secret"
		dead.Close()
		_, _, err := read(t, csv.Config{Path: url, Schema: textSchema})
		require.ErrorContains(t, err, "csv: GET "+strings.TrimSuffix(url, "?token=secret")+": ")
		require.NotContains(t, err.Error(), "secret")
	})
}
