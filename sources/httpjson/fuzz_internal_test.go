package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/textvalue"
)

var fuzzCols = []column{
	{name: "id", path: "id", typ: etl.TypeInt64},
	{name: "name", path: "name", typ: etl.TypeText},
	{name: "amount", path: "amount", typ: etl.TypeNumeric},
	{name: "score", path: "score", typ: etl.TypeFloat64},
	{name: "ok", path: "ok", typ: etl.TypeBool},
	{name: "ts", path: "ts", typ: etl.TypeTimestamp},
	{name: "meta", path: "meta", typ: etl.TypeJSON},
	{name: "uid", path: "user.id", typ: etl.TypeText},
}

// outcome is one record as the decoder saw it: a row, or a bad record.
type outcome struct {
	row etl.Row
	bad *fieldError
}

// fuzzDecode runs the page decoder over body and returns each record's outcome.
func fuzzDecode(t *testing.T, body []byte, ndjson, tiny bool) ([]outcome, pageInfo, error) {
	dec, err := newRecordDecoder(fuzzCols)
	if err != nil {
		t.Fatal(err)
	}
	var src = bytes.NewReader(body)
	r := newReader(src, 1<<20)
	if tiny {
		r = newReader(iotest.OneByteReader(src), 1<<20)
	}
	var out []outcome
	p := &pageDecoder{
		ndjson: ndjson,
		decode: func(int) (*fieldError, error) { return dec.decode(r) },
		emit: func(_ int, fe *fieldError) error {
			if fe != nil {
				if fe.err == nil {
					t.Fatal("a bad record without a cause")
				}
				out = append(out, outcome{bad: fe})
				return nil
			}
			out = append(out, outcome{row: dec.row.Clone()})
			return nil
		},
	}
	info, err := p.read(r)
	return out, info, err
}

// FuzzDecode feeds arbitrary bodies to the page decoder and checks it against
// encoding/json: it accepts exactly the JSON that json.Valid accepts, finds the same
// records, and every value it yields equals what encoding/json reads there, converted by
// the documented rules (numbers compared as exact rationals, never through float64). A
// body read one byte at a time gives the same result.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`[{"id":1,"name":"a","amount":12.50,"score":1e-3,"ok":true,"ts":"2026-01-02T03:04:05Z","meta":{"k":[1,null]},"user":{"id":"u1"}}]`), false)
	f.Add([]byte(`[{"id":12345678901234567890},{"id":"-7","amount":1.5e3,"name":"\ud83d\ude00\u00e9\n"},{"user":null,"ok":"yes"}]`), false)
	f.Add([]byte(`[{"id":1.0},{"id":1e2},{"score":1e400},{"name":"\udc00"},{"user":5},{"id":1,"id":2},[],"x",null]`), false)
	f.Add([]byte("{\"id\":1}\n\n{\"id\":2,\"name\":\"x\"}\r\n{\"id\":\n3}\n{bad\n{\"id\":4} 5\n"), true)
	f.Add([]byte(`[{"meta":"\u0000","amount":-0.0e-0,"ts":"2026-02-28 12:00:00+09"}, {"name":12.0e5}]`), false)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		out, info, err := fuzzDecode(t, body, ndjson, false)
		out2, info2, err2 := fuzzDecode(t, body, ndjson, true)
		if (err == nil) != (err2 == nil) || info != info2 || len(out) != len(out2) {
			t.Fatalf("one byte at a time differs: %v %+v %d vs %v %+v %d", err, info, len(out), err2, info2, len(out2))
		}
		for i := range out {
			if !reflect.DeepEqual(out[i].row, out2[i].row) || (out[i].bad == nil) != (out2[i].bad == nil) {
				t.Fatalf("record %d differs one byte at a time: %v vs %v", i+1, out[i], out2[i])
			}
		}
		if ndjson {
			checkLines(t, body, out, info, err)
			return
		}
		valid := json.Valid(body)
		if !valid {
			if err == nil {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			return
		}
		var doc any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		arr, ok := doc.([]any)
		if !ok {
			if !errors.Is(err, ErrNoRecords) {
				t.Fatalf("a body that is not an array: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("refused valid JSON %q: %v", body, err)
		}
		if info.records != len(arr) || len(out) != len(arr) {
			t.Fatalf("%d records (%d outcomes), encoding/json finds %d", info.records, len(out), len(arr))
		}
		for i, rec := range arr {
			checkRecord(t, i+1, rec, out[i])
		}
	})
}

// checkLines checks an NDJSON body line by line against json.Valid.
func checkLines(t *testing.T, body []byte, out []outcome, info pageInfo, err error) {
	if err != nil {
		t.Fatalf("an NDJSON body fails as a whole: %v", err)
	}
	var lines [][]byte
	for _, l := range bytes.Split(body, []byte("\n")) {
		if len(bytes.Trim(l, " \t\r")) > 0 {
			lines = append(lines, l)
		}
	}
	if len(lines) != info.records || len(out) != len(lines) {
		t.Fatalf("%d records (%d outcomes) in %d non-blank lines", info.records, len(out), len(lines))
	}
	for i, l := range lines {
		syntaxBad := out[i].bad != nil && errors.Is(out[i].bad.err, ErrSyntax)
		if json.Valid(l) == syntaxBad {
			t.Fatalf("line %q: json.Valid %v, decoder's syntax error %v", l, json.Valid(l), out[i].bad)
		}
		if !syntaxBad {
			var doc any
			d := json.NewDecoder(bytes.NewReader(l))
			d.UseNumber()
			if err := d.Decode(&doc); err != nil {
				t.Fatal(err)
			}
			checkRecord(t, i+1, doc, out[i])
		}
	}
}

// checkRecord compares a decoded record with encoding/json's reading of it.
func checkRecord(t *testing.T, n int, rec any, got outcome) {
	m, ok := rec.(map[string]any)
	if !ok {
		if got.bad == nil || !errors.Is(got.bad.err, ErrNotObject) {
			t.Fatalf("record %d is %T, decoder says %v", n, rec, got)
		}
		return
	}
	if got.bad != nil {
		return // a duplicate field, or a value the rules refuse
	}
	for i, c := range fuzzCols {
		var v any = m
		for _, seg := range strings.Split(c.path, ".") {
			mm, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = mm[seg]
		}
		checkValue(t, n, c, v, got.row[i])
	}
}

func ratOf(t *testing.T, s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("big.Rat cannot read %q", s)
	}
	return r
}

// checkValue checks one yielded value against encoding/json's value v.
func checkValue(t *testing.T, n int, c column, v, got any) {
	fail := func() {
		t.Helper()
		t.Fatalf("record %d, %s: encoding/json reads %#v, decoder yields %#v", n, c.path, v, got)
	}
	if v == nil {
		if got != nil {
			fail()
		}
		return
	}
	if c.typ == etl.TypeJSON {
		s, ok := got.(string)
		if !ok {
			fail()
		}
		var back any
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		if d.Decode(&back) != nil || !reflect.DeepEqual(back, v) {
			fail()
		}
		return
	}
	switch v := v.(type) {
	case string:
		if c.typ == etl.TypeText {
			if got != v {
				fail()
			}
			return
		}
		want, err := textvalue.Parse(c.typ, v)
		if err != nil {
			fail()
		}
		if wt, ok := want.(time.Time); ok {
			gt, ok := got.(time.Time)
			if !ok || !gt.Equal(wt) {
				fail()
			}
			return
		}
		if f, ok := want.(float64); ok && f != f {
			if g, ok := got.(float64); !ok || g == g {
				fail()
			}
			return
		}
		if !reflect.DeepEqual(want, got) {
			fail()
		}
	case json.Number:
		lit := string(v)
		switch c.typ {
		case etl.TypeText:
			if got != lit {
				fail()
			}
		case etl.TypeInt64:
			g, ok := got.(int64)
			if !ok || ratOf(t, lit).Cmp(new(big.Rat).SetInt64(g)) != 0 {
				fail()
			}
		case etl.TypeNumeric:
			g, ok := got.(etl.Decimal)
			if !ok || ratOf(t, lit).Cmp(ratOf(t, string(g))) != 0 {
				fail()
			}
			if _, err := textvalue.Parse(etl.TypeNumeric, string(g)); err != nil {
				t.Fatalf("numeric %q is not in the form sinks read: %v", g, err)
			}
		case etl.TypeFloat64:
			want, err := strconv.ParseFloat(lit, 64)
			if err != nil || got != want {
				fail()
			}
		case etl.TypeBool:
			if (lit != "0" || got != false) && (lit != "1" || got != true) {
				fail()
			}
		default:
			fail()
		}
	case bool:
		switch c.typ {
		case etl.TypeBool:
			if got != v {
				fail()
			}
		case etl.TypeText:
			if got != strconv.FormatBool(v) {
				fail()
			}
		default:
			fail()
		}
	default: // an object or array, for a column that is not json
		fail()
	}
}

// FuzzParseLinks feeds arbitrary Link header values to the parser: it must not panic, a
// target it returns is text the header held between '<' and '>', the next link is one of
// those targets, and any text without '>' wrapped as a well-formed next link is read back
// as it was.
func FuzzParseLinks(f *testing.F) {
	f.Add(`<https://api.example.com/x?page=2>; rel="next", <https://api.example.com/x?page=9>; rel="last"`)
	f.Add(`<a>; title="x, \"y\""; rel=next, </b>;rel="prev next"`)
	f.Add(`garbage, <unterminated; rel=next`)
	f.Fuzz(func(t *testing.T, v string) {
		links := parseLinks(v)
		for _, l := range links {
			if !strings.Contains(v, "<"+l.target+">") {
				t.Fatalf("target %q is not in %q", l.target, v)
			}
		}
		if next := nextLink(map[string][]string{"Link": {v}}); next != "" {
			found := false
			for _, l := range links {
				found = found || l.target == next && strings.Contains(strings.ToLower(l.rel), "next")
			}
			if !found {
				t.Fatalf("next link %q of %q is none of the links with rel next: %+v", next, v, links)
			}
		}
		if strings.Contains(v, ">") {
			return
		}
		h := "<" + v + `>; rel="next"`
		if got := parseLinks(h); len(got) != 1 || got[0] != (link{target: v, rel: "next"}) {
			t.Fatalf("%q reads as %+v", h, got)
		}
		// An unquoted value loses the spaces around it, and a second rel is ignored
		// (RFC 8288, section 3.3).
		if h2 := "<" + v + `> ; rel = next ; rel="last"`; !reflect.DeepEqual(parseLinks(h2), []link{{target: v, rel: "next"}}) {
			t.Fatalf("%q reads as %+v", h2, parseLinks(h2))
		}
		if got := nextLink(map[string][]string{"Link": {`<x>; rel="prev", ` + h}}); got != v {
			t.Fatalf("the next link of %q is %q", h, got)
		}
	})
}
