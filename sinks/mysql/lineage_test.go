package mysql_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/mysql"
)

// TestDatasetsFollowOpenLineageNaming: the target is named "mysql://{host}:{port}" and
// "{database}.{table}", from the DSN the *sql.DB was opened with, and not at all when
// the server or the database cannot be told.
func TestDatasetsFollowOpenLineageNaming(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dsn, schema string
		want        []etl.Dataset
	}{
		{"app:s3cret@tcp(DB.Example.com:3307)/product", "",
			[]etl.Dataset{{Namespace: "mysql://db.example.com:3307", Name: "product.Course_Summary"}}},
		{"app:s3cret@tcp(db:3306)/product", "Reports",
			[]etl.Dataset{{Namespace: "mysql://db:3306", Name: "Reports.Course_Summary"}}},
		{"root@tcp([::1]:3306)/test?parseTime=true", "",
			[]etl.Dataset{{Namespace: "mysql://[::1]:3306", Name: "test.Course_Summary"}}},
		{"root@tcp(db)/test", "", // the driver's default port
			[]etl.Dataset{{Namespace: "mysql://db:3306", Name: "test.Course_Summary"}}},
		{"root@/test", "", // the driver's default address
			[]etl.Dataset{{Namespace: "mysql://127.0.0.1:3306", Name: "test.Course_Summary"}}},
		{"", "product", nil},                                 // which server: unknown
		{"root@tcp(db:3306)/", "", nil},                      // which database: unknown
		{"root@unix(/run/mysqld/mysqld.sock)/test", "", nil}, // no host
		{"not a dsn", "", nil},
	} {
		target := mysql.Target{DSN: tc.dsn, Schema: tc.schema, Table: "Course_Summary"}
		got := (&mysql.FullRefresh{Target: target}).Datasets()
		require.Equal(t, tc.want, got, "%q", tc.dsn)
		for _, d := range got {
			require.NotContains(t, d.Namespace+d.Name, "s3cret")
		}
	}
}
