package readme

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/postgres"
	"github.com/sluice-etl/sluice/sources/httpjson"
)

// OrdersAPI syncs the orders that a JSON API at apiBase lists as changed into the
// warehouse's api_orders: the README's HTTP source.
func OrdersAPI(ctx context.Context, apiBase, token string, warehouse *pgxpool.Pool) error {
	// README: httpjson
	src, err := httpjson.New(httpjson.Config{
		URL:        apiBase + "/v1/orders?limit=1000",
		Header:     http.Header{"Authorization": {"Bearer " + token}},
		Records:    "data",
		Pagination: httpjson.NextCursor{Path: "meta.next_cursor", Param: "cursor"},
		Schema: etl.Schema{
			{Name: "id", Type: etl.TypeInt64, NotNull: true},
			{Name: "customer_id", Type: etl.TypeInt64},
			{Name: "total", Type: etl.TypeNumeric},
			{Name: "updated_at", Type: etl.TypeTimestamp},
			{Name: "deleted", Type: etl.TypeBool},
		},
		Paths:    map[string]string{"customer_id": "customer.id"},
		Cursor:   "updated_at",    // its highest value becomes the watermark,
		Since:    "updated_since", // which the next run sends here, in RFC 3339
		LookBack: 5 * time.Minute,
		Deleted:  "deleted",
	})
	if err != nil {
		return err
	}
	sync := &etl.Pipeline{Name: "api_orders_sync", Source: src, Sink: &postgres.Merge{
		Target: postgres.Target{Pool: warehouse, Table: "api_orders", Key: []string{"id"}, Create: true},
	}}
	if _, err := sync.Run(ctx, etl.Window{}); err != nil {
		return err
	}
	// README end
	return nil
}
