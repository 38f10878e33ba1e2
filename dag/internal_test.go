package dag

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{10, 5 * time.Second, 10 * time.Second},
		{1000, 5 * time.Second, 10 * time.Second},
	}
	for _, tc := range tests {
		for range 50 {
			w := backoff(time.Second, 10*time.Second, tc.attempt)
			require.GreaterOrEqual(t, w, tc.min, "attempt %d", tc.attempt)
			require.LessOrEqual(t, w, tc.max, "attempt %d", tc.attempt)
		}
	}
	require.Equal(t, time.Nanosecond, backoff(time.Nanosecond, time.Hour, 1))
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-01-02", "2026-01-02T15:04", "2026-01-02T15:04:05", "2026-01-02T15:04:05+02:00", "2026-01-02T15:04:05.123Z", "", "garbage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err != nil {
			return
		}
		back, err := ParseTime(tm.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%q -> %v does not round-trip: %v %v", s, tm, back, err)
		}
	})
}

func FuzzGraphLabels(f *testing.F) {
	for _, s := range []string{"extract", `b "q" <x>`, "a\nb", `back\slash`, "#35;", "<br/>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := mermaidText(s)
		if strings.ContainsAny(m, "\"\n\r") {
			t.Fatalf("mermaid label %q from %q breaks the quoted node", m, s)
		}
		q := dotQuote(s)
		if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' || strings.ContainsAny(q, "\n\r") {
			t.Fatalf("dot id %q from %q", q, s)
		}
		// Every quote inside is escaped by an odd run of backslashes.
		inner := q[1 : len(q)-1]
		for i := 0; i < len(inner); i++ {
			if inner[i] != '"' {
				continue
			}
			n := 0
			for j := i - 1; j >= 0 && inner[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				t.Fatalf("dot id %q from %q has an unescaped quote", q, s)
			}
		}
	})
}
