package redshift_test

import (
	"fmt"
	"os"
	"time"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/redshift"
)

func ExampleCopy_SQL() {
	c := redshift.Copy{
		Table:       redshift.Table{Schema: "analytics", Name: "name_gender"},
		Columns:     []string{"name", "gender"},
		ManifestURL: "s3://staging/name_gender/0123/manifest.json",
		IAMRole:     "arn:aws:iam::123456789012:role/load",
	}
	fmt.Println(c.SQL())
	// Output:
	// COPY "analytics"."name_gender" ("name", "gender") FROM 's3://staging/name_gender/0123/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/load' MANIFEST CSV GZIP NULL AS '\\N' TIMEFORMAT 'auto' ROUNDEC COMPUPDATE OFF STATUPDATE OFF
}

func ExampleWriteCSV() {
	schema := etl.Schema{
		{Name: "name", Type: etl.TypeText},
		{Name: "amount", Type: etl.TypeNumeric},
		{Name: "at", Type: etl.TypeTimestamp},
		{Name: "deleted", Type: etl.TypeBool},
	}
	at := time.Date(2024, 5, 1, 12, 30, 0, 250000000, time.UTC)
	rows := etl.SliceStream(schema, []etl.Row{
		{`Bree'Asia, "Bree"`, etl.Decimal("12.50"), at, false},
		{"", nil, nil, true},
	})
	if _, _, err := redshift.WriteCSV(os.Stdout, rows.Schema, rows.Rows); err != nil {
		fmt.Println(err)
	}
	// Output:
	// "Bree'Asia, ""Bree""",12.50,2024-05-01 12:30:00.25+00,f
	// "",\N,\N,t
}

// A full refresh of the name_gender table through S3 staging. Credentials for S3 come
// from the default AWS chain; the DSN's password never appears in errors or logs.
func ExampleFullRefresh() {
	loader := &redshift.FullRefresh{Target: redshift.Target{
		DSN: os.Getenv("REDSHIFT_URL"),
		Staging: redshift.StageConfig{
			Bucket:  "acme-etl-staging",
			Prefix:  "sluice",
			Region:  "us-east-1",
			IAMRole: "arn:aws:iam::123456789012:role/redshift-load",
			Slices:  4,
		},
		Schema: "analytics",
		Table:  "name_gender",
		Key:    []string{"name"},
		Checks: []checks.Check{checks.UniqueKey(), checks.NotNull("gender")},
	}}
	_ = &etl.Pipeline{Name: "name_gender", Sink: loader}
}
