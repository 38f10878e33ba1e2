package readme

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

// The HTTP snippet, as written, pages through an API by its cursor, maps the nested
// customer id, keeps a total of 19 digits exactly, and on the next run asks for what
// changed since the watermark and applies a soft delete.
func TestOrdersAPISyncsChanges(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	var mu sync.Mutex
	pages := map[string]string{
		"": `{"data":[{"id":1,"customer":{"id":7},"total":12345678901234567.89,"updated_at":"2026-11-30T10:00:00Z"},
			{"id":2,"customer":{"id":8},"total":"5.00","updated_at":"2026-11-30T10:01:00Z"}],"meta":{"next_cursor":"p2"}}`,
		"p2": `{"data":[{"id":3,"customer":null,"total":1.5e3,"updated_at":"2026-11-30T10:02:00Z"}],"meta":{"next_cursor":null}}`,
	}
	var since []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer t0ken" || r.URL.Query().Get("limit") != "1000" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("cursor") == "" {
			since = append(since, r.URL.Query().Get("updated_since"))
		}
		fmt.Fprint(w, pages[r.URL.Query().Get("cursor")])
	}))
	t.Cleanup(api.Close)
	contents := func() string {
		rows, err := db.Pool.Query(t.Context(), `SELECT id || ':' || coalesce(customer_id::text, '-') || ':' || total FROM api_orders ORDER BY id`)
		require.NoError(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out = append(out, s)
		}
		require.NoError(t, rows.Err())
		return strings.Join(out, " ")
	}

	require.NoError(t, OrdersAPI(t.Context(), api.URL, "t0ken", db.Pool))
	require.Equal(t, "1:7:12345678901234567.89 2:8:5.00 3:-:1500", contents())

	mu.Lock()
	pages[""] = `{"data":[{"id":2,"customer":{"id":8},"total":"6.00","updated_at":"2026-11-30T11:00:00Z"},
		{"id":3,"updated_at":"2026-11-30T11:01:00Z","deleted":true}],"meta":{}}`
	mu.Unlock()
	require.NoError(t, OrdersAPI(t.Context(), api.URL, "t0ken", db.Pool))
	require.Equal(t, "1:7:12345678901234567.89 2:8:6.00", contents())
	require.Equal(t, []string{"", "2026-11-30T09:57:00Z"}, since, "the second run asks for changes since the watermark less the look-back")
}
