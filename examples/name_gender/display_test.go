package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDisplayURLHidesSecrets(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"./my_names.csv", "./my_names.csv"},
		{"sqlite:name_gender.db", "sqlite:name_gender.db"},
		{"postgres://etl:s3cret@db:5432/wh?connect_timeout=5", "postgres://etl:xxxxx@db:5432/wh?..."},
		{"postgres://etl@db/wh", "postgres://etl@db/wh"},
		{"redshift://etl:s3cret@cluster.example.com/dev", "redshift://etl:xxxxx@cluster.example.com/dev"},
		{"https://TOKEN@example.com/names.csv", "https://xxxxx@example.com/names.csv"},
		{"https://example.com/names.csv?X-Amz-Signature=abc#frag", "https://example.com/names.csv?..."},
		{"s3://bucket/key.csv", "s3://bucket/key.csv"},
		{"postgres://etl:pa#ss@db/wh", "postgres://... (does not parse)"},
	} {
		require.Equal(t, tt.want, displayURL(tt.in), tt.in)
	}
}
