package lineage

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNames(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ got, want string }{
		{Postgres("DB.example.com", 5432), "postgres://db.example.com:5432"},
		{Postgres("::1", 5432), "postgres://[::1]:5432"},
		{MySQL("DB.example.com", 3306), "mysql://db.example.com:3306"},
		{MySQL("::1", 3307), "mysql://[::1]:3307"},
		{Redshift("Examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com", 5439), "redshift://examplecluster.us-west-2:5439"},
		{Redshift("wg.123456789012.eu-west-1.redshift-serverless.amazonaws.com.", 5439), "redshift://wg.eu-west-1:5439"},
		{Redshift("10.0.0.5", 5439), "redshift://10.0.0.5:5439"},
		{Redshift("redshift.amazonaws.com", 5439), "redshift://redshift.amazonaws.com:5439"},
		{FirstSchema(""), "public"},
		{FirstSchema(`"$user", public`), "public"},
		{FirstSchema(`$user,Sales`), "sales"},
		{FirstSchema(`"My ""S"""`), `My "S"`},
	} {
		require.Equal(t, c.want, c.got)
	}
	ns, name := File("/tmp/x.csv")
	require.Equal(t, "file", ns)
	require.Equal(t, "/tmp/x.csv", name)
}
