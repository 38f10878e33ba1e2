package redshift

import (
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/lineage"
)

// Datasets names the target table for lineage, following OpenLineage's naming for
// Redshift: namespace "redshift://{cluster identifier}.{region}:{port}" and name
// "{database}.{schema}.{table}". The cluster identifier and region come from the DSN's
// host when it is a cluster endpoint ("<cluster>.<id>.<region>.redshift.amazonaws.com")
// or a Serverless one ("<workgroup>.<account>.<region>.redshift-serverless.amazonaws.com",
// the workgroup standing for the cluster); any other host is used as it is. The schema
// is Schema, else the first schema of the DSN's search_path, else "public"; every part
// is folded to lower case, as the cluster folds it, so that the table read by one
// pipeline and written by another has one name. It returns nil when DSN is empty or does
// not parse, as with a Target that only sets Connect.
func (t *Target) Datasets() []etl.Dataset {
	if t.DSN == "" {
		return nil
	}
	cfg, err := connConfig(t.DSN)
	if err != nil {
		return nil
	}
	schema := fold(t.Schema)
	if schema == "" {
		schema = fold(lineage.FirstSchema(cfg.RuntimeParams["search_path"]))
	}
	return []etl.Dataset{{Namespace: lineage.Redshift(cfg.Host, cfg.Port), Name: fold(cfg.Database) + "." + schema + "." + fold(t.Table)}}
}
