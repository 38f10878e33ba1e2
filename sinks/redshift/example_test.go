package redshift_test

import (
	"os"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/redshift"
)

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
