package textvalue

import (
	"testing"
	"time"
)

func BenchmarkTimestamp(b *testing.B) {
	var p Parser
	for b.Loop() {
		if _, ok := p.Timestamp("2024-05-01 12:30:45+00", time.UTC); !ok {
			b.Fatal("refused")
		}
	}
}
