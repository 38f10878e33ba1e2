// Package lineage names datasets the way OpenLineage's naming spec does, once for every
// source and sink that reports them (etl.Lineage):
//
//   - PostgreSQL: namespace "postgres://{host}:{port}", name "{database}.{schema}.{table}";
//   - MySQL: namespace "mysql://{host}:{port}", name "{database}.{table}";
//   - Redshift: namespace "redshift://{cluster identifier}.{region}:{port}", name
//     "{database}.{schema}.{table}";
//   - local files: namespace "file", name the absolute path.
//
// The schema is always resolved, never empty, so that a table read by one pipeline and
// written by another has one identity.
package lineage

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Postgres returns the namespace of a PostgreSQL server. Host names are case-insensitive
// and lowered; an IPv6 address is bracketed.
func Postgres(host string, port uint16) string {
	return "postgres://" + net.JoinHostPort(strings.ToLower(host), strconv.Itoa(int(port)))
}

// MySQL returns the namespace of a MySQL or MariaDB server. Host names are
// case-insensitive and lowered; an IPv6 address is bracketed.
func MySQL(host string, port uint16) string {
	return "mysql://" + net.JoinHostPort(strings.ToLower(host), strconv.Itoa(int(port)))
}

// Redshift returns the namespace of a Redshift cluster or Serverless workgroup from its
// endpoint's host: "<cluster>.<id>.<region>.redshift.amazonaws.com" and
// "<workgroup>.<account>.<region>.redshift-serverless.amazonaws.com" give
// "redshift://<cluster or workgroup>.<region>:<port>". Any other host (an IP address, a
// private DNS name) is used as it is, lowered.
func Redshift(host string, port uint16) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	parts := strings.Split(host, ".")
	if n := len(parts); n >= 6 && parts[n-2] == "amazonaws" && (parts[n-3] == "redshift" || parts[n-3] == "redshift-serverless") {
		host = parts[0] + "." + parts[n-4]
	}
	return "redshift://" + net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// FirstSchema returns the first schema of a search_path setting other than $user, with
// its quotes removed, or "public" when there is none (the schema an unqualified name
// lands in on a server with the default search_path).
func FirstSchema(searchPath string) string {
	for _, p := range strings.Split(searchPath, ",") {
		p = strings.TrimSpace(p)
		if p == "" || p == "$user" || p == `"$user"` {
			continue
		}
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			return strings.ReplaceAll(p[1:len(p)-1], `""`, `"`)
		}
		// An unquoted name in the setting is folded, as the server folds it.
		return strings.ToLower(p)
	}
	return "public"
}

// File returns the namespace and name of a local file: "file" and its absolute path,
// with forward slashes.
func File(path string) (namespace, name string) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	return "file", p
}
