package redshiftcopy_test

import (
	"fmt"
	"os"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
)

func ExampleCopy_SQL() {
	c := redshiftcopy.Copy{
		Table:       redshiftcopy.Table{Schema: "analytics", Name: "name_gender"},
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
	if _, _, err := redshiftcopy.WriteCSV(os.Stdout, rows.Schema, rows.Rows); err != nil {
		fmt.Println(err)
	}
	// Output:
	// "Bree'Asia, ""Bree""",12.50,2024-05-01 12:30:00.25+00,f
	// "",\N,\N,t
}
