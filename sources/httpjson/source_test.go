package httpjson_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"

	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/httpjson"
)

// The credentials the tests send. No error, log line, reject or dataset may show them.
const (
	token  = "tok-5ecret-bearer-value"
	apiKey = "key-5ecret-query-value"
)

var schema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "name", Type: etl.TypeText},
}

// recordsJSON renders records first..last as a JSON array of {"id":N,"name":"nN"}.
func recordsJSON(first, last int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := first; i <= last; i++ {
		if i > first {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"n%d","ignored":{"a":[1,2,{"b":null}]}}`, i, i)
	}
	b.WriteByte(']')
	return b.String()
}

func wantRows(first, last int) []etl.Row {
	var rows []etl.Row
	for i := first; i <= last; i++ {
		rows = append(rows, etl.Row{int64(i), "n" + strconv.Itoa(i)})
	}
	return rows
}

// collect reads a source's whole stream.
func collect(t testing.TB, src *httpjson.Source, run *etl.Run) ([]etl.Row, error) {
	t.Helper()
	s, err := src.Extract(context.Background(), run)
	require.NoError(t, err)
	return etl.Collect(s)
}

// authed fails the test for a request without the bearer token.
func authed(t *testing.T, r *http.Request) {
	if got := r.Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("request %s without the token: %q", r.URL, got)
	}
}

var fast = httpjson.Retry{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

func newSource(t testing.TB, cfg httpjson.Config) *httpjson.Source {
	t.Helper()
	if cfg.Schema == nil {
		cfg.Schema = schema
	}
	if cfg.Header == nil {
		cfg.Header = http.Header{"Authorization": {"Bearer " + token}}
	}
	if cfg.Retry == (httpjson.Retry{}) {
		cfg.Retry = fast
	}
	src, err := httpjson.New(cfg)
	require.NoError(t, err)
	return src
}

// TestPaginationStyles reads three pages of three records in every pagination style,
// and stops at the empty fourth page or where the API gives no next page.
func TestPaginationStyles(t *testing.T) {
	t.Parallel()
	page := func(n int) string { return recordsJSON(3*n-2, 3*n) }
	tests := []struct {
		name    string
		cfg     httpjson.Config
		path    string
		handler func(t *testing.T, base string) http.HandlerFunc
		calls   int32
	}{
		{
			name: "next link in the body, relative",
			cfg:  httpjson.Config{Records: "data", Pagination: httpjson.NextLink{Path: "links.next"}},
			path: "/items?limit=3",
			handler: func(t *testing.T, base string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					n, _ := strconv.Atoi(r.URL.Query().Get("p"))
					if n == 0 {
						n = 1
						require.Equal(t, "3", r.URL.Query().Get("limit"))
					}
					next := "null"
					if n < 3 {
						next = fmt.Sprintf(`"/items?p=%d"`, n+1)
					}
					fmt.Fprintf(w, `{"links":{"next":%s},"data":%s,"total":9}`, next, page(n))
				}
			},
			calls: 3,
		},
		{
			name: "next link in the body, absolute, after the records",
			cfg:  httpjson.Config{Records: "data", Pagination: httpjson.NextLink{Path: "next"}},
			path: "/items",
			handler: func(t *testing.T, base string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					n, _ := strconv.Atoi(r.URL.Query().Get("p"))
					n = max(n, 1)
					next := ""
					if n < 3 {
						next = fmt.Sprintf("%s/items?p=%d", base, n+1)
					}
					fmt.Fprintf(w, `{"data":%s,"next":%q}`, page(n), next)
				}
			},
			calls: 3,
		},
		{
			name: "Link header",
			cfg:  httpjson.Config{Pagination: httpjson.LinkHeader{}},
			path: "/items",
			handler: func(t *testing.T, base string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					n, _ := strconv.Atoi(r.URL.Query().Get("page"))
					n = max(n, 1)
					if n < 3 {
						w.Header().Add("Link", fmt.Sprintf(`<%s/items?page=1>; rel="first", <%s/items?page=%d>; rel="next"`, base, base, n+1))
					}
					fmt.Fprint(w, page(n))
				}
			},
			calls: 3,
		},
		{
			name: "cursor token",
			cfg:  httpjson.Config{Records: "items", Pagination: httpjson.NextCursor{Path: "meta.next_cursor", Param: "cursor"}},
			path: "/items?limit=3",
			handler: func(t *testing.T, base string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					require.Equal(t, "3", r.URL.Query().Get("limit"))
					n := map[string]int{"": 1, "c/2=": 2, "c/3=": 3}[r.URL.Query().Get("cursor")]
					require.NotZero(t, n, r.URL.RawQuery)
					next := "null"
					if n < 3 {
						next = fmt.Sprintf(`"c/%d="`, n+1)
					}
					fmt.Fprintf(w, `{"items":%s,"meta":{"next_cursor":%s}}`, page(n), next)
				}
			},
			calls: 3,
		},
		{
			name: "page numbers until an empty page",
			cfg:  httpjson.Config{Pagination: httpjson.PageNumber{Param: "page"}},
			path: "/items?page=7&per_page=3",
			handler: func(t *testing.T, base string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					require.Equal(t, []string{"3"}, r.URL.Query()["per_page"])
					require.Len(t, r.URL.Query()["page"], 1)
					n, _ := strconv.Atoi(r.URL.Query().Get("page"))
					if n > 3 {
						fmt.Fprint(w, "[]")
						return
					}
					fmt.Fprint(w, page(n))
				}
			},
			calls: 4,
		},
		{
			name: "zero-based page numbers",
			cfg:  httpjson.Config{Records: "data", Pagination: httpjson.PageNumber{Param: "p", ZeroBased: true}},
			path: "/items",
			handler: func(t *testing.T, base string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					n, _ := strconv.Atoi(r.URL.Query().Get("p"))
					if n > 2 {
						fmt.Fprint(w, `{"data":null}`)
						return
					}
					fmt.Fprintf(w, `{"data":%s}`, page(n+1))
				}
			},
			calls: 4,
		},
		{
			name: "offsets",
			cfg:  httpjson.Config{Pagination: httpjson.Offset{Param: "offset"}},
			path: "/items?limit=3",
			handler: func(t *testing.T, base string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					off, err := strconv.Atoi(r.URL.Query().Get("offset"))
					require.NoError(t, err)
					if off >= 9 {
						fmt.Fprint(w, "[]")
						return
					}
					fmt.Fprint(w, recordsJSON(off+1, off+3))
				}
			},
			calls: 4,
		},
		{
			name: "NDJSON with page numbers",
			cfg:  httpjson.Config{Format: httpjson.NDJSON, Pagination: httpjson.PageNumber{Param: "page"}},
			path: "/items.ndjson",
			handler: func(t *testing.T, base string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					require.Contains(t, r.Header.Get("Accept"), "application/x-ndjson")
					n, _ := strconv.Atoi(r.URL.Query().Get("page"))
					for i := 3*n - 2; i <= 3*n && n <= 3; i++ {
						fmt.Fprintf(w, "{\"id\":%d,\"name\":\"n%d\"}\n\n", i, i)
					}
				}
			},
			calls: 4,
		},
		{
			name: "page numbers until 204 No Content",
			cfg:  httpjson.Config{Records: "data", Pagination: httpjson.PageNumber{Param: "page"}},
			path: "/items",
			handler: func(t *testing.T, base string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					n, _ := strconv.Atoi(r.URL.Query().Get("page"))
					if n > 3 {
						w.WriteHeader(http.StatusNoContent)
						return
					}
					fmt.Fprintf(w, `{"data":%s}`, page(n))
				}
			},
			calls: 4,
		},
		{
			name: "one page without pagination",
			cfg:  httpjson.Config{},
			path: "/all",
			handler: func(t *testing.T, base string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, recordsJSON(1, 9)) }
			},
			calls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			var h http.HandlerFunc
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				authed(t, r)
				h(w, r)
			}))
			t.Cleanup(srv.Close)
			h = tt.handler(t, srv.URL)
			cfg := tt.cfg
			cfg.URL = srv.URL + tt.path
			rows, err := collect(t, newSource(t, cfg), etl.NewRun("p", etl.Window{}))
			require.NoError(t, err)
			require.Equal(t, wantRows(1, 9), rows)
			require.Equal(t, tt.calls, calls.Load())
		})
	}
}

// TestPaginationLoopsFail: an API that hands out a next link or cursor again, or serves
// the same page again, fails the run instead of reading the same records forever.
func TestPaginationLoopsFail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  httpjson.Config
		body func(r *http.Request) string
		want error
	}{
		{"next link back to the first page", httpjson.Config{Records: "data", Pagination: httpjson.NextLink{Path: "next"}},
			func(r *http.Request) string {
				if r.URL.Query().Get("p") == "2" {
					return `{"data":[{"id":2}],"next":"/items?a=1"}`
				}
				return `{"data":[{"id":1}],"next":"/items?p=2"}`
			}, httpjson.ErrRepeatedPage},
		{"cursor repeated", httpjson.Config{Records: "data", Pagination: httpjson.NextCursor{Path: "cursor", Param: "c"}},
			func(r *http.Request) string {
				return fmt.Sprintf(`{"data":[{"id":%d}],"cursor":"same"}`, len(r.URL.RawQuery))
			}, httpjson.ErrRepeatedPage},
		{"page parameter ignored", httpjson.Config{Pagination: httpjson.PageNumber{Param: "page"}},
			func(r *http.Request) string { return `[{"id":1}]` }, httpjson.ErrRepeatedPage},
		{"more pages than allowed", httpjson.Config{Pagination: httpjson.Offset{Param: "o"}, MaxPages: 5},
			func(r *http.Request) string { return `[{"id":` + r.URL.Query().Get("o") + `}]` }, httpjson.ErrTooManyPages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tt.body(r))
			}))
			t.Cleanup(srv.Close)
			cfg := tt.cfg
			cfg.URL = srv.URL + "/items?a=1"
			_, err := collect(t, newSource(t, cfg), nil)
			require.ErrorIs(t, err, tt.want)
			var e *httpjson.Error
			require.ErrorAs(t, err, &e)
			require.Positive(t, e.Page)
		})
	}
}

// TestNextLinkToAnotherHostFails: the credentials are never sent to a host the caller did
// not name, and a redirect there drops them.
func TestNextLinkToAnotherHostFails(t *testing.T) {
	t.Parallel()
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != "" {
			leaked.Add(1)
		}
		fmt.Fprint(w, `{"data":[{"id":3}]}`)
	}))
	t.Cleanup(other.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, other.URL+"/moved", http.StatusFound)
			return
		}
		fmt.Fprintf(w, `{"data":[{"id":1}],"next":%q}`, other.URL+"/page2")
	}))
	t.Cleanup(srv.Close)
	hdr := http.Header{"Authorization": {"Bearer " + token}, "X-Api-Key": {apiKey}}

	src := newSource(t, httpjson.Config{URL: srv.URL + "/items", Header: hdr, Records: "data", Pagination: httpjson.NextLink{Path: "next"}})
	_, err := collect(t, src, nil)
	require.ErrorIs(t, err, httpjson.ErrForeignHost)

	src = newSource(t, httpjson.Config{URL: srv.URL + "/redirect", Header: hdr, Records: "data"})
	rows, err := collect(t, src, nil)
	require.NoError(t, err)
	require.Equal(t, []etl.Row{{int64(3), nil}}, rows)
	require.Zero(t, leaked.Load(), "the credentials reached another host")
}

// TestThrottlingHonoursRetryAfter: a 429 with Retry-After in seconds or as an HTTP date
// is waited out, and the page is then read once.
func TestThrottlingHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	for _, form := range []string{"seconds", "date"} {
		t.Run(form, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			var first, second time.Time
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch calls.Add(1) {
				case 1:
					first = time.Now()
					after := "1"
					if form == "date" {
						// An HTTP date has whole seconds: 2s from now is 1-2s away.
						after = time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)
					}
					w.Header().Set("Retry-After", after)
					http.Error(w, "slow down", http.StatusTooManyRequests)
				default:
					second = time.Now()
					fmt.Fprint(w, recordsJSON(1, 2))
				}
			}))
			t.Cleanup(srv.Close)
			rows, err := collect(t, newSource(t, httpjson.Config{URL: srv.URL}), nil)
			require.NoError(t, err)
			require.Equal(t, wantRows(1, 2), rows)
			require.Equal(t, int32(2), calls.Load())
			// The backoff alone is 1ms; only Retry-After explains a wait this long.
			require.GreaterOrEqual(t, second.Sub(first), 900*time.Millisecond)
		})
	}
}

func TestRetryAfterLongerThanMaxWaitFails(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	_, err := collect(t, newSource(t, httpjson.Config{URL: srv.URL}), nil)
	var he *httpjson.HTTPError
	require.ErrorAs(t, err, &he)
	require.Equal(t, time.Hour, he.RetryAfter)
	require.Equal(t, 503, he.StatusCode)
	require.Equal(t, int32(1), calls.Load())
	require.Contains(t, err.Error(), "asked to wait 1h0m0s")
}

// TestServerErrorsAreRetriedBoundedly: 5xx answers are retried up to Attempts; other
// 4xx are not retried at all.
func TestServerErrorsAreRetriedBoundedly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		statuses []int // the answers before a 200
		attempts int
		calls    int32
		status   int // the error's status, 0 for success
	}{
		{"two 503s then success", []int{503, 502}, 3, 3, 0},
		{"500 until attempts run out", []int{500, 500, 500, 500}, 3, 3, 500},
		{"404 is not retried", []int{404}, 5, 1, 404},
		{"400 is not retried", []int{400}, 5, 1, 400},
		{"501 is not retried", []int{501}, 5, 1, 501},
		{"408 is retried", []int{408}, 5, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(calls.Add(1)) - 1
				if i < len(tt.statuses) {
					// A server that echoes what it was sent must not put it in our error.
					http.Error(w, "refused "+r.Header.Get("Authorization")+" "+r.URL.RawQuery, tt.statuses[i])
					return
				}
				fmt.Fprint(w, recordsJSON(1, 1))
			}))
			t.Cleanup(srv.Close)
			retry := fast
			retry.Attempts = tt.attempts
			src := newSource(t, httpjson.Config{URL: srv.URL + "/v1/x?api_key=" + apiKey, Retry: retry})
			rows, err := collect(t, src, nil)
			require.Equal(t, tt.calls, calls.Load())
			if tt.status == 0 {
				require.NoError(t, err)
				require.Equal(t, wantRows(1, 1), rows)
				return
			}
			var he *httpjson.HTTPError
			require.ErrorAs(t, err, &he)
			require.Equal(t, tt.status, he.StatusCode)
			require.Equal(t, int(tt.calls), he.Attempts)
			require.Equal(t, tt.status == 404, errors.Is(err, httpjson.ErrNotFound))
			require.Contains(t, he.Body, "refused")
			requireNoSecrets(t, err.Error())
			require.Contains(t, err.Error(), srv.URL+"/v1/x?... (page 1)")
		})
	}
}

// TestServerErrorMidRun: a 5xx on a later page is retried without reading the earlier
// pages again, and the run yields every record once.
func TestServerErrorMidRun(t *testing.T) {
	t.Parallel()
	var calls, fails atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		n, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		if n == 3 && fails.Add(1) <= 2 {
			http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
			return
		}
		if n >= 9 {
			fmt.Fprint(w, `[]`)
			return
		}
		fmt.Fprint(w, recordsJSON(n+1, n+3))
	}))
	t.Cleanup(srv.Close)
	rows, err := collect(t, newSource(t, httpjson.Config{URL: srv.URL, Pagination: httpjson.Offset{Param: "offset"}}), nil)
	require.NoError(t, err)
	require.Equal(t, wantRows(1, 9), rows)
	require.Equal(t, int32(6), calls.Load())
}

// TestDroppedConnection: a page whose body breaks before any of its records was handed
// on is fetched again; one that breaks after fails the run, since fetching it again
// could hand its first records on twice.
func TestDroppedConnection(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		partial string // what page 2's first answer sends before the connection drops
		ok      bool
	}{
		{"before any record", `{"meta":{"n":1},"data":[`, true},
		{"inside the first record", `{"data":[{"id":4,"na`, true},
		{"after two records", `{"data":[{"id":4,"name":"n4"},{"id":5,"name":"n5"},{"id"`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				switch r.URL.Query().Get("page") {
				case "1":
					fmt.Fprintf(w, `{"data":%s}`, recordsJSON(1, 3))
				case "2":
					if calls.Load() == 2 {
						fmt.Fprint(w, tt.partial)
						w.(http.Flusher).Flush()
						panic(http.ErrAbortHandler)
					}
					fmt.Fprintf(w, `{"data":%s}`, recordsJSON(4, 6))
				default:
					fmt.Fprint(w, `{"data":[]}`)
				}
			}))
			t.Cleanup(srv.Close)
			src := newSource(t, httpjson.Config{URL: srv.URL, Records: "data", Pagination: httpjson.PageNumber{Param: "page"}})
			s, err := src.Extract(context.Background(), nil)
			require.NoError(t, err)
			var rows []etl.Row
			for row, err := range s.Rows {
				if err != nil {
					require.False(t, tt.ok, "%v", err)
					var e *httpjson.Error
					require.ErrorAs(t, err, &e)
					require.Equal(t, 2, e.Page)
					require.Contains(t, err.Error(), "unexpected EOF")
					break
				}
				rows = append(rows, row.Clone())
			}
			if tt.ok {
				require.Equal(t, wantRows(1, 6), rows) // no record twice
				require.Equal(t, int32(4), calls.Load())
			} else {
				require.Equal(t, wantRows(1, 5), rows) // the sink rolls these back
				require.Equal(t, int32(2), calls.Load())
			}
		})
	}
}

// TestBadJSONFailsNamingThePage: a body that is not JSON fails the run, whatever the
// reject budget, naming the page, the record and the byte.
func TestBadJSONFailsNamingThePage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "1" {
			fmt.Fprint(w, recordsJSON(1, 2))
			return
		}
		fmt.Fprint(w, `[{"id":3,"name":"n3"},{"id":4,"name":"n4",}]`)
	}))
	t.Cleanup(srv.Close)
	src := newSource(t, httpjson.Config{URL: srv.URL + "/x?token=" + apiKey, Pagination: httpjson.PageNumber{Param: "page"}, MaxBadRecords: 100})
	rows, err := collect(t, src, nil)
	require.ErrorIs(t, err, httpjson.ErrSyntax)
	var e *httpjson.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 2, e.Page)
	require.Equal(t, 2, e.Record)
	require.Equal(t, srv.URL+"/x?...", e.URL)
	require.Equal(t, wantRows(1, 3), rows)
	require.Contains(t, err.Error(), `(page 2): record 2: unexpected '}', want a member name at byte 42`)
	requireNoSecrets(t, err.Error())
}

// TestBadRecordsWithinTheBudgetAreRejected: bad values are skipped and reported through
// the run, located by page, record and column, until one too many fails the run.
func TestBadRecordsWithinTheBudgetAreRejected(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("page") {
		case "1":
			fmt.Fprint(w, `[{"id":1},{"id":1.5},{"id":2,"name":"n2"}]`)
		case "2":
			fmt.Fprint(w, `[{"id":3},{"id":"x"},"not an object",{"id":4}]`)
		default:
			fmt.Fprint(w, `[]`)
		}
	}))
	t.Cleanup(srv.Close)
	cfg := httpjson.Config{URL: srv.URL + "/x?api_key=" + apiKey, Pagination: httpjson.PageNumber{Param: "page"}, MaxBadRecords: 3}
	run := etl.NewRun("p", etl.Window{})
	rows, err := collect(t, newSource(t, cfg), run)
	require.NoError(t, err)
	require.Equal(t, []etl.Row{{int64(1), nil}, {int64(2), "n2"}, {int64(3), nil}, {int64(4), nil}}, rows)
	rej := run.Rejects()
	require.Len(t, rej, 3)
	page1, page2 := srv.URL+"/x?... (page 1)", srv.URL+"/x?... (page 2)"
	require.Equal(t, etl.Reject{Source: page1, Line: 2, Column: "id", Err: rej[0].Err}, rej[0])
	require.ErrorIs(t, rej[0].Err, httpjson.ErrInvalidValue)
	require.Equal(t, page1+`:2: column "id": invalid value for int64: "1.5" (not an integer)`, rej[0].Error())
	require.Equal(t, page2+`:2: column "id": invalid value for int64: "x"`, rej[1].Error())
	require.Equal(t, page2+`:3: the record is a string: not a JSON object`, rej[2].Error())
	require.Equal(t, int64(3), run.Stats().RowsRejected)

	cfg.MaxBadRecords = 2
	_, err = collect(t, newSource(t, cfg), etl.NewRun("p", etl.Window{}))
	require.ErrorIs(t, err, httpjson.ErrTooManyBadRecords)
	require.Contains(t, err.Error(), "(page 2): record 3")
}

// TestIncremental: the stored watermark goes into the Since parameter, less the
// look-back; the highest cursor yielded becomes the new watermark, held at the time the
// server served the first page.
func TestIncremental(t *testing.T) {
	t.Parallel()
	sch := etl.Schema{
		{Name: "id", Type: etl.TypeInt64},
		{Name: "updated_at", Type: etl.TypeTimestamp},
		{Name: "deleted", Type: etl.TypeBool},
	}
	served := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var since []string
	var mu sync.Mutex
	body := `[{"id":1,"updated_at":"2026-11-30T10:00:00Z"},{"id":2,"updated_at":"2026-11-30T11:30:00.5+01:00","deleted":true}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		since = append(since, r.URL.Query().Get("updated_since"))
		mu.Unlock()
		w.Header().Set("Date", served.Format(http.TimeFormat))
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	cfg := httpjson.Config{URL: srv.URL + "/changes", Schema: sch, Cursor: "updated_at", Since: "updated_since",
		LookBack: 5 * time.Minute, Deleted: "deleted"}
	src := newSource(t, cfg)
	s, err := src.Extract(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, "updated_at", s.Cursor, "the stream declares its cursor")
	require.Equal(t, "deleted", s.Deleted, "and its soft-delete column")

	// No watermark yet: everything, and the highest cursor becomes the watermark.
	run := etl.NewRun("p", etl.Window{})
	rows, err := collect(t, src, run)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	next, ok := run.NextWatermark()
	require.True(t, ok)
	require.True(t, next.(time.Time).Equal(time.Date(2026, 11, 30, 10, 30, 0, 5e8, time.UTC)), "%v", next)

	// A stored watermark, read when the stream starts, goes into the query less the look-back.
	run = etl.NewRun("p", etl.Window{})
	s, err = src.Extract(context.Background(), run)
	require.NoError(t, err)
	run.SetWatermark(time.Date(2026, 11, 30, 10, 0, 0, 999, time.UTC)) // after Extract, as a sink does
	_, err = etl.Collect(s)
	require.NoError(t, err)
	require.Equal(t, []string{"", "2026-11-30T09:55:00Z"}, since)

	// A record stamped after the server's clock does not move the watermark past it.
	body = `[{"id":3,"updated_at":"2027-01-01T00:00:00Z"}]`
	run = etl.NewRun("p", etl.Window{})
	_, err = collect(t, src, run)
	require.NoError(t, err)
	next, _ = run.NextWatermark()
	require.True(t, next.(time.Time).Equal(served), "%v", next)

	cfg.NoUpperBound = true
	run = etl.NewRun("p", etl.Window{})
	_, err = collect(t, newSource(t, cfg), run)
	require.NoError(t, err)
	next, _ = run.NextWatermark()
	require.True(t, next.(time.Time).Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)), "%v", next)

	// Nothing newer than the stored watermark: it stays.
	run = etl.NewRun("p", etl.Window{})
	run.SetWatermark(time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC))
	_, err = collect(t, newSource(t, cfg), run)
	require.NoError(t, err)
	next, _ = run.NextWatermark()
	require.True(t, next.(time.Time).Equal(time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)), "%v", next)
}

// TestNullCursorFailsByDefaultNamingTheRecord: a record whose cursor is null or missing
// fails the run with an error naming its page, its position and the column, as a NULL
// cursor does in sources/postgres, however many bad records are allowed; with
// NullCursorAlways it is yielded and leaves the watermark alone.
func TestNullCursorFailsByDefaultNamingTheRecord(t *testing.T) {
	t.Parallel()
	sch := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "updated_at", Type: etl.TypeTimestamp}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			fmt.Fprint(w, `{"data":[{"id":3,"meta":{"updated":"2026-11-30T09:00:00Z"}},{"id":4,"meta":{"updated":null}},{"id":5,"meta":{}}]}`)
			return
		}
		if r.URL.Query().Get("page") == "3" {
			fmt.Fprint(w, `{"data":[]}`)
			return
		}
		fmt.Fprint(w, `{"data":[{"id":1,"meta":{"updated":"2026-11-30T10:00:00Z"}},{"id":2,"meta":{"updated":"2026-11-30T08:00:00Z"}}]}`)
	}))
	t.Cleanup(srv.Close)
	cfg := httpjson.Config{URL: srv.URL + "/changes", Schema: sch, Records: "data", Paths: map[string]string{"updated_at": "meta.updated"},
		Cursor: "updated_at", Since: "since", Pagination: httpjson.PageNumber{Param: "page"}, MaxBadRecords: 10}

	run := etl.NewRun("p", etl.Window{})
	run.SetWatermark(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	_, err := collect(t, newSource(t, cfg), run)
	require.ErrorIs(t, err, httpjson.ErrNullCursor)
	var e *httpjson.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 2, e.Page)
	require.Equal(t, 2, e.Record, "the record with the null")
	require.Equal(t, "updated_at", e.Column)
	require.Equal(t, "meta.updated", e.Field)
	require.ErrorContains(t, err, `record 2: field "meta.updated" (column "updated_at")`)
	require.Zero(t, run.Stats().RowsRejected, "not a bad record: nothing was skipped")
	next, _ := run.NextWatermark()
	require.True(t, next.(time.Time).Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)), "the watermark stays: %v", next)

	cfg.NullCursor = httpjson.NullCursorAlways
	run = etl.NewRun("p", etl.Window{})
	rows, err := collect(t, newSource(t, cfg), run)
	require.NoError(t, err)
	require.Equal(t, []etl.Row{{int64(1), time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}, {int64(2), time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)},
		{int64(3), time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}, {int64(4), nil}, {int64(5), nil}}, rows)
	next, _ = run.NextWatermark()
	require.True(t, next.(time.Time).Equal(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)), "null cursors never move the watermark: %v", next)
}

func TestIncrementalFormats(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.RawQuery)
		fmt.Fprint(w, `{"data":[{"seq":12345678901234567,"at":"2026-01-01"}]}`)
	}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		name   string
		cursor string
		layout string
		stored any
		query  string
		next   any
	}{
		{"int64 cursor", "seq", "", int64(99), "since=99", int64(12345678901234567)},
		{"int64 stored as text", "seq", "", "99", "since=99", int64(12345678901234567)},
		{"unix seconds", "at", "unix", time.Date(2025, 1, 1, 0, 0, 1, 9e8, time.UTC), "since=1735689601", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"unix millis", "at", "unixmilli", time.Date(2025, 1, 1, 0, 0, 1, 9e8, time.UTC), "since=1735689601900", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"date layout", "at", time.DateOnly, time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), "since=2025-12-31", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := newSource(t, httpjson.Config{URL: srv.URL + "/x?a=b", Records: "data",
				Schema: etl.Schema{{Name: "seq", Type: etl.TypeInt64}, {Name: "at", Type: etl.TypeDate}},
				Cursor: tt.cursor, Since: "since", SinceLayout: tt.layout})
			run := etl.NewRun("p", etl.Window{})
			run.SetWatermark(tt.stored)
			_, err := collect(t, src, run)
			require.NoError(t, err)
			require.Equal(t, "a=b&"+tt.query, got.Load())
			next, _ := run.NextWatermark()
			require.Equal(t, tt.next, next)
		})
	}
}

// requireNoSecrets fails when s shows a credential.
func requireNoSecrets(t *testing.T, s string) {
	t.Helper()
	for _, sec := range []string{token, apiKey, "5ecret"} {
		require.NotContains(t, s, sec)
	}
}

// TestSecretsStayHidden: credentials in the header and the query reach the server but
// no error, reject, log line or dataset.
func TestSecretsStayHidden(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authed(t, r)
		require.Equal(t, apiKey, r.URL.Query().Get("api_key"))
		switch r.URL.Query().Get("page") {
		case "1":
			w.Header().Set("Retry-After", "0")
			if r.Header.Get("X-Retried") == "" {
				// Echo the credentials in a retried error, then in a final one.
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "overloaded for %s", r.Header.Get("Authorization"))
				return
			}
		case "2":
			fmt.Fprint(w, `[{"id":"bad `+token+`"}]`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "bad token %s", token)
	}))
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src := newSource(t, httpjson.Config{
		URL:           "https://user:" + apiKey + "@" + strings.TrimPrefix(srv.URL, "http://") + "/v1/items?api_key=" + apiKey,
		Pagination:    httpjson.PageNumber{Param: "page"},
		MaxBadRecords: 1,
		Logger:        logger,
	})
	require.Equal(t, []etl.Dataset{{Namespace: "https://" + strings.TrimPrefix(srv.URL, "http://"), Name: "v1/items", Schema: schema}}, src.Datasets())

	// https against an http server fails the handshake; the URL still hides its secrets.
	_, err := collect(t, src, nil)
	require.Error(t, err)
	requireNoSecrets(t, err.Error())

	src = newSource(t, httpjson.Config{
		URL:           srv.URL + "/v1/items?api_key=" + apiKey,
		Pagination:    httpjson.PageNumber{Param: "page"},
		MaxBadRecords: 1,
		Logger:        logger,
	})
	run := etl.NewRun("p", etl.Window{})
	_, err = collect(t, src, run)
	var he *httpjson.HTTPError
	require.ErrorAs(t, err, &he)
	require.Equal(t, 503, he.StatusCode)
	require.Contains(t, he.Body, "overloaded for xxxxx")
	requireNoSecrets(t, err.Error())
	mu.Lock()
	requireNoSecrets(t, logs.String())
	require.Contains(t, logs.String(), "httpjson: retrying")
	mu.Unlock()
	for _, d := range src.Datasets() {
		requireNoSecrets(t, d.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRejectsHideSecrets: a rejected record names its page by the redacted URL, and a
// rejected value that holds a secret (it came from the API) is the API's data, not ours.
func TestRejectsNameTheRedactedURL(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"id":"x"},{"id":1}]`)
	}))
	t.Cleanup(srv.Close)
	run := etl.NewRun("p", etl.Window{})
	_, err := collect(t, newSource(t, httpjson.Config{URL: srv.URL + "/v1?api_key=" + apiKey, MaxBadRecords: 1}), run)
	require.NoError(t, err)
	require.Len(t, run.Rejects(), 1)
	requireNoSecrets(t, run.Rejects()[0].Error())
	require.Equal(t, srv.URL+"/v1?... (page 1)", run.Rejects()[0].Source)
}

// TestContextBoundsTheRun: a server that never answers, or stops sending mid-body, does
// not hold the run past its context or the stall timeout.
func TestContextBoundsTheRun(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stall" {
			fmt.Fprint(w, `[{"id":1},`)
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	s, err := newSource(t, httpjson.Config{URL: srv.URL + "/hang"}).Extract(ctx, nil)
	require.NoError(t, err)
	_, err = etl.Collect(s)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	retry := fast
	retry.Attempts = 1
	rows, err := collect(t, newSource(t, httpjson.Config{URL: srv.URL + "/stall", Timeout: 100 * time.Millisecond, Retry: retry}), nil)
	require.ErrorContains(t, err, "no data received within the timeout (100ms)")
	require.Equal(t, []etl.Row{{int64(1), nil}}, rows)
}

// TestCancelWhileWaitingToRetry: a cancelled context ends a backoff wait at once.
func TestCancelWhileWaitingToRetry(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s, err := newSource(t, httpjson.Config{URL: srv.URL}).Extract(ctx, nil)
	require.NoError(t, err)
	start := time.Now()
	_, err = etl.Collect(s)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 30*time.Second)
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  httpjson.Config
		want string
	}{
		{httpjson.Config{URL: "ftp://x/y", Schema: schema}, "not an http:// or https:// URL"},
		{httpjson.Config{URL: "http://x", Schema: schema, Paths: map[string]string{"nope": "a"}}, `Paths names "nope"`},
		{httpjson.Config{URL: "http://x", Schema: schema, Paths: map[string]string{"id": "a..b"}}, "empty segment"},
		{httpjson.Config{URL: "http://x", Schema: schema, Paths: map[string]string{"name": "id"}}, `read the same field "id"`},
		{httpjson.Config{URL: "http://x", Schema: schema, Paths: map[string]string{"name": "id.x"}}, `which other columns read inside of`},
		{httpjson.Config{URL: "http://x", Schema: schema, Pagination: httpjson.NextLink{Path: "next"}}, "needs the records under a path"},
		{httpjson.Config{URL: "http://x", Schema: schema, Records: "data", Pagination: httpjson.NextLink{Path: "data.next"}}, "overlap"},
		{httpjson.Config{URL: "http://x", Schema: schema, Format: httpjson.NDJSON, Records: "data"}, "NDJSON"},
		{httpjson.Config{URL: "http://x", Schema: schema, Cursor: "id"}, "Cursor needs Since"},
		{httpjson.Config{URL: "http://x", Schema: schema, Cursor: "id", Since: "s", LookBack: time.Minute}, "LookBack needs a timestamp"},
		{httpjson.Config{URL: "http://x", Schema: schema, Since: "s"}, "Since needs a Cursor"},
		{httpjson.Config{URL: "http://x", Schema: schema, Cursor: "nope", Since: "s"}, `Cursor names "nope"`},
		{httpjson.Config{URL: "http://x", Schema: schema, Deleted: "nope"}, `Deleted names "nope"`},
		{httpjson.Config{URL: "http://x", Schema: schema, Cursor: "id", Since: "s", NullCursor: 9}, "unknown NullCursor"},
		{httpjson.Config{URL: "http://x", Schema: schema, Pagination: &httpjson.NextCursor{Path: "c"}}, "NextCursor needs a Path and a Param"},
	} {
		_, err := httpjson.New(tt.cfg)
		require.ErrorContains(t, err, tt.want)
	}
}

// TestManyPagesKeepMemoryFlat: the heap after 2,000 pages is what it was after 50;
// holding the records would take about 25 MiB.
//
// The heap is the process's: the test runs alone, not in parallel with others.
func TestManyPagesKeepMemoryFlat(t *testing.T) {
	pages := make([]string, 4)
	for i := range pages {
		pages[i] = fmt.Sprintf(`{"data":%s,"next":"/p?n=%%d"}`, recordsJSON(i*100+1, i*100+100))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n >= 2000 {
			fmt.Fprint(w, `{"data":[]}`)
			return
		}
		fmt.Fprintf(w, pages[n%len(pages)], n+1)
	}))
	t.Cleanup(srv.Close)
	src := newSource(t, httpjson.Config{URL: srv.URL + "/p?n=0", Records: "data", Pagination: httpjson.NextLink{Path: "next"}})
	s, err := src.Extract(context.Background(), nil)
	require.NoError(t, err)
	var ms runtime.MemStats
	var at50 uint64
	count := 0
	for _, err := range s.Rows {
		require.NoError(t, err)
		count++
		switch count {
		case 50 * 100:
			runtime.GC()
			runtime.ReadMemStats(&ms)
			at50 = ms.HeapAlloc
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	require.Equal(t, 2000*100, count)
	grew := int64(ms.HeapAlloc) - int64(at50)
	t.Logf("heap grew by %d KiB between page 50 and page 2000", grew>>10)
	require.Less(t, grew, int64(1<<20), "heap grew by %d KiB", grew>>10)
}

// TestLargePageIsStreamed: a 100,000-record page (about 10 MB) is decoded as it arrives,
// not read whole first. It runs alone, not in parallel with others.
func TestLargePageIsStreamed(t *testing.T) {
	const n = 100_000
	body := recordsJSON(1, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body) // fmt would copy the body whole
	}))
	t.Cleanup(srv.Close)
	s, err := newSource(t, httpjson.Config{URL: srv.URL}).Extract(context.Background(), nil)
	require.NoError(t, err)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before, peak := ms.HeapAlloc, ms.HeapAlloc
	count := 0
	for _, err := range s.Rows {
		require.NoError(t, err)
		if count++; count%10000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	require.Equal(t, n, count)
	t.Logf("live heap grew by %d KiB over a %d kB page", int64(peak-before)>>10, len(body)/1000)
	// Reading the page whole would hold it all; the source holds its read buffer.
	require.Less(t, int64(peak)-int64(before), int64(1<<20))
}

// TestEmptyPagesWithALinkAreFollowed: an API that filters its pages after cutting them
// serves an empty page that still has a next link or cursor; the run reads on past it,
// and a link or cursor that comes back after empty pages still fails as a loop.
func TestEmptyPagesWithALinkAreFollowed(t *testing.T) {
	t.Parallel()
	// Pages 2 and 3 are empty; page 4 holds the last records.
	records := map[int]string{1: recordsJSON(1, 3), 2: "[]", 3: "null", 4: recordsJSON(4, 6)}
	tests := []struct {
		name string
		cfg  httpjson.Config
		body func(n int) (string, http.Header)
	}{
		{"next link", httpjson.Config{Records: "data", Pagination: httpjson.NextLink{Path: "next"}},
			func(n int) (string, http.Header) {
				next := "null"
				if n < 4 {
					next = fmt.Sprintf(`"/items?p=%d"`, n+1)
				}
				return fmt.Sprintf(`{"data":%s,"next":%s}`, records[n], next), nil
			}},
		{"Link header", httpjson.Config{Records: "data", Pagination: httpjson.LinkHeader{}},
			func(n int) (string, http.Header) {
				h := http.Header{}
				if n < 4 {
					h.Set("Link", fmt.Sprintf(`</items?p=%d>; rel="next"`, n+1))
				}
				return fmt.Sprintf(`{"data":%s}`, records[n]), h
			}},
		{"cursor", httpjson.Config{Records: "data", Pagination: httpjson.NextCursor{Path: "cursor", Param: "p"}},
			func(n int) (string, http.Header) {
				next := "null"
				if n < 4 {
					next = strconv.Itoa(n + 1)
				}
				return fmt.Sprintf(`{"data":%s,"cursor":%s}`, records[n], next), nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				n, _ := strconv.Atoi(r.URL.Query().Get("p"))
				body, h := tt.body(max(n, 1))
				for k, v := range h {
					w.Header()[k] = v
				}
				fmt.Fprint(w, body)
			}))
			t.Cleanup(srv.Close)
			cfg := tt.cfg
			cfg.URL = srv.URL + "/items"
			rows, err := collect(t, newSource(t, cfg), nil)
			require.NoError(t, err)
			require.Equal(t, append(wantRows(1, 3), wantRows(4, 6)...), rows)
			require.Equal(t, int32(4), calls.Load())
		})
	}

	t.Run("a loop through empty pages fails", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			cfg    httpjson.Config
			prefix string // what the body puts before the page number
		}{
			{httpjson.Config{Records: "data", Pagination: httpjson.NextLink{Path: "next"}}, "/items?p="},
			{httpjson.Config{Records: "data", Pagination: httpjson.NextCursor{Path: "next", Param: "p"}}, ""},
		} {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				// Empty pages whose links go 1 -> 2 -> 3 -> 2.
				next := "3"
				if p := r.URL.Query().Get("p"); p == "" || p == "3" {
					next = "2"
				}
				fmt.Fprintf(w, `{"data":[],"next":%q}`, tt.prefix+next)
			}))
			cfg := tt.cfg
			cfg.URL = srv.URL + "/items"
			_, err := collect(t, newSource(t, cfg), nil)
			srv.Close()
			require.ErrorIs(t, err, httpjson.ErrRepeatedPage, "%T", cfg.Pagination)
			require.Contains(t, err.Error(), "page 3 gives the")
			require.Equal(t, int32(3), calls.Load())
		}
	})

	// A feed answers its last, empty page with the cursor or link that fetched it, to be
	// asked again later: that ends the run, with the records read so far.
	t.Run("an empty page that points at itself ends the run", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			cfg    httpjson.Config
			prefix string
		}{
			{httpjson.Config{Records: "data", Pagination: httpjson.NextLink{Path: "next"}}, "/items?p="},
			{httpjson.Config{Records: "data", Pagination: httpjson.NextCursor{Path: "next", Param: "p"}}, ""},
		} {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if r.URL.Query().Get("p") == "" {
					fmt.Fprintf(w, `{"data":%s,"next":%q}`, recordsJSON(1, 3), tt.prefix+"2")
					return
				}
				fmt.Fprintf(w, `{"data":[],"next":%q}`, tt.prefix+"2")
			}))
			cfg := tt.cfg
			cfg.URL = srv.URL + "/items"
			rows, err := collect(t, newSource(t, cfg), nil)
			srv.Close()
			require.NoError(t, err, "%T", cfg.Pagination)
			require.Equal(t, wantRows(1, 3), rows)
			require.Equal(t, int32(2), calls.Load())
		}
	})
}
