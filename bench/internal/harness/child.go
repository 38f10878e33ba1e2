package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-etl/sluice/etl"
)

// ChildResult is what a sluice child reports to the driver on stdout, as one JSON value.
type ChildResult struct {
	Stats  etl.Stats
	Checks []etl.CheckResult
	// PeakRSS is the child's own VmHWM in bytes when it finished.
	PeakRSS int64
	// Events counts the events the child's observer received, when it had one.
	Events int64 `json:",omitempty"`
	// Phases is where the load's time went, when the child timed it (see [PhaseTimer]).
	Phases []Phase `json:",omitempty"`
}

// WriteChildResult writes res, the count of observer events, the load's phases (if it
// timed them) and the process's peak RSS for the driver to read with [ReadChildResult].
// Call it last, once the load is done.
func WriteChildResult(w io.Writer, res etl.Result, events int64, phases ...Phase) error {
	return json.NewEncoder(w).Encode(ChildResult{Stats: res.Stats, Checks: res.Checks, PeakRSS: OwnPeakRSS(), Events: events, Phases: phases})
}

// ReadChildResult decodes what a child wrote with [WriteChildResult], ignoring anything
// printed after it.
func ReadChildResult(stdout []byte) (ChildResult, error) {
	var cr ChildResult
	if err := json.NewDecoder(bytes.NewReader(stdout)).Decode(&cr); err != nil {
		return cr, fmt.Errorf("read the child's result: %w", err)
	}
	return cr, nil
}

// CheckSummary lists the checks a sluice run reported, so the report shows they were on.
func (cr ChildResult) CheckSummary() string {
	if len(cr.Checks) == 0 {
		return "no checks reported"
	}
	parts := make([]string, len(cr.Checks))
	for i, ch := range cr.Checks {
		verdict := "passed"
		if !ch.Passed {
			verdict = "FAILED"
		}
		parts[i] = ch.Name + " " + verdict
		if ch.Note != "" {
			parts[i] += " (" + ch.Note + ")"
		}
	}
	return "checks: " + strings.Join(parts, ", ")
}

// SplitList splits a comma-separated flag value, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
