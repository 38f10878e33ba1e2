package redshift

import (
	"fmt"
	"strings"

	"github.com/sluice-etl/sluice/etl"
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
	ns, db, searchPath, ok := namespace(t.DSN)
	if !ok {
		return nil
	}
	schema := fold(t.Schema)
	if schema == "" {
		schema = firstSchema(searchPath)
	}
	return []etl.Dataset{{Namespace: ns, Name: fold(db) + "." + schema + "." + fold(t.Table)}}
}

// namespace returns the OpenLineage namespace of the cluster dsn connects to, its
// database and its search_path.
func namespace(dsn string) (ns, db, searchPath string, ok bool) {
	if dsn == "" {
		return "", "", "", false
	}
	cfg, err := ConnConfig(dsn)
	if err != nil {
		return "", "", "", false
	}
	host := strings.ToLower(strings.TrimSuffix(cfg.Host, "."))
	parts := strings.Split(host, ".")
	if n := len(parts); n >= 6 && parts[n-2] == "amazonaws" && (parts[n-3] == "redshift" || parts[n-3] == "redshift-serverless") {
		host = parts[0] + "." + parts[n-4]
	}
	return fmt.Sprintf("redshift://%s:%d", host, cfg.Port), cfg.Database, cfg.RuntimeParams["search_path"], true
}

// firstSchema returns the first schema of a search_path other than $user, or "public".
func firstSchema(sp string) string {
	for _, p := range strings.Split(sp, ",") {
		p = strings.TrimSpace(p)
		if p == "" || p == "$user" || p == `"$user"` {
			continue
		}
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			return fold(strings.ReplaceAll(p[1:len(p)-1], `""`, `"`))
		}
		return fold(p)
	}
	return "public"
}
