package redact_test

import (
	"fmt"

	"github.com/sluice-etl/sluice/internal/redact"
)

func ExampleDSN() {
	fmt.Println(redact.DSN("postgres://etl:s3cret@db:5432/wh?sslmode=require"))
	fmt.Println(redact.DSN("host=db user=etl password='top s3cret' dbname=wh"))
	// Output:
	// postgres://etl:xxxxx@db:5432/wh?sslmode=require
	// host=db user=etl password=xxxxx dbname=wh
}

func ExampleURL() {
	fmt.Println(redact.URL("https://bucket.s3.amazonaws.com/names.csv?X-Amz-Signature=abc"))
	fmt.Println(redact.URL("https://u:s3cret@host/names.csv"))
	// Output:
	// https://bucket.s3.amazonaws.com/names.csv?...
	// https://u:xxxxx@host/names.csv
}
