package checks

import (
	"strings"

	"github.com/sluice-etl/sluice/etl"
)

// Names returns the names of cs as their results name them, for documentation: a
// UniqueKey with no columns names key, the table's key, and a check that only warns is
// followed by " (warn)". Sinks use it to implement etl.CheckLister.
func Names(cs []Check, key []string) []string {
	if len(cs) == 0 {
		return nil
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		name := c.Name()
		if name == "unique_key()" && len(key) > 0 {
			name = "unique_key(" + strings.Join(key, ", ") + ")"
		}
		if c.Severity() == etl.SeverityWarn {
			name += " (warn)"
		}
		out[i] = name
	}
	return out
}
