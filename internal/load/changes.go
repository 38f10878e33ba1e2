package load

import (
	"fmt"
	"strings"

	"github.com/sluice-etl/sluice/etl"
)

// MergeColumns resolves a merge's cursor and soft-delete columns, the same way for every
// sink: a column the merge names (Merge.Cursor, Merge.Deleted) wins, and one it leaves
// empty defaults to what the stream declares (etl.Stream.Cursor, etl.Stream.Deleted).
// Every resolved column must be in the stream. A declared one that is missing (a
// transform dropped it) fails the load, since merging without it would upsert the
// source's tombstones as rows. table names the target in errors.
func MergeColumns(table string, in etl.Stream, cursor, deleted string) (resolvedCursor, resolvedDeleted string, err error) {
	resolve := func(setting, declared, field, what string) (string, error) {
		switch {
		case setting != "":
			if in.Schema.Index(setting) < 0 {
				return "", fmt.Errorf("table %s: Merge.%s names column %q, which the stream does not have (it has %s)",
					table, field, setting, names(in.Schema))
			}
			return setting, nil
		case declared != "":
			if in.Schema.Index(declared) < 0 {
				return "", fmt.Errorf("table %s: the source declares %q as its %s column, but the stream that reached the merge "+
					"does not have it (it has %s); a transform dropped it: keep the column, or set Merge.%s",
					table, declared, what, names(in.Schema), field)
			}
			return declared, nil
		}
		return "", nil
	}
	if resolvedCursor, err = resolve(cursor, in.Cursor, "Cursor", "cursor"); err != nil {
		return "", "", err
	}
	if resolvedDeleted, err = resolve(deleted, in.Deleted, "Deleted", "soft-delete"); err != nil {
		return "", "", err
	}
	return resolvedCursor, resolvedDeleted, nil
}

func names(s etl.Schema) string {
	q := make([]string, len(s))
	for i, n := range s.Names() {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
