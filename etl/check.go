package etl

// Severity says what a failed check does to the load.
type Severity string

// The severities a check can have.
const (
	// SeverityError, the default, rolls the load back when the check fails.
	SeverityError Severity = "error"
	// SeverityWarn records the failure in the run record and lets the load commit.
	SeverityWarn Severity = "warn"
)

// CheckResult is the outcome of one data check, as kept in the run record. The checks
// themselves live in package checks; the result lives here so that observers and run
// records can carry it without importing any sink.
type CheckResult struct {
	// Name identifies the check, such as "unique_key(id)".
	Name string `json:"name"`
	// Table is the checked table, as the sink names it.
	Table string `json:"table,omitempty"`
	// Severity is the check's severity.
	Severity Severity `json:"severity"`
	// Passed reports whether the data met the check.
	Passed bool `json:"passed"`
	// Expected and Found say what the check wanted and what it saw, in words.
	Expected string `json:"expected,omitempty"`
	Found    string `json:"found,omitempty"`
	// Samples holds up to five offending keys or rows, formatted for people.
	Samples []string `json:"samples,omitempty"`
	// Note explains how the result was reached when that matters, such as a uniqueness
	// check answered by a unique index.
	Note string `json:"note,omitempty"`
}

// CheckLister is implemented by sinks that run checks inside their load, so that
// documentation, such as the page dag's describe command writes, can list them.
type CheckLister interface {
	// CheckNames names the checks as their results do, such as "unique_key(id)", with
	// " (warn)" after those that do not roll the load back.
	CheckNames() []string
}
