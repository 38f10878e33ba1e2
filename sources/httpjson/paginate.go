package httpjson

import (
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Pagination says how a [Source] finds the next page. It is one of [NextLink],
// [LinkHeader], [NextCursor], [PageNumber] and [Offset]. [PageNumber] and [Offset] stop
// at a page that holds no records; the others follow their link or cursor through empty
// pages and stop where the API gives none, or where an empty page gives back the link or
// cursor that fetched it (a feed's "nothing more for now"). [Config.MaxPages] bounds them
// all.
type Pagination interface {
	pagination()
}

// NextLink follows the URL that each page's body gives at Path, such as "next" or
// "links.next". A relative link is resolved against the page's URL. A missing, null or
// empty link ends the run's pages; a page with no records does not. A link the run has
// already followed fails with [ErrRepeatedPage]; a link to another scheme or host fails
// with [ErrForeignHost].
type NextLink struct {
	// Path is the link's path in the body, its steps separated by dots. Required.
	Path string
}

// LinkHeader follows the response's Link header to the target whose rel is "next"
// (RFC 8288), as GitHub's API sends it. Its absence ends the run's pages; a page with no
// records does not. Repeated and foreign links fail as with [NextLink].
type LinkHeader struct{}

// NextCursor reads a token from each page's body at Path, such as "meta.next_cursor",
// and asks for the next page with the token in the query parameter Param. A missing,
// null or empty token ends the run's pages; a page with no records does not. A token the
// run has already sent fails with [ErrRepeatedPage]. A number is sent as written.
type NextCursor struct {
	// Path is the token's path in the body, its steps separated by dots. Required.
	Path string
	// Param is the query parameter that carries the token. Required.
	Param string
}

// PageNumber numbers the pages in the query parameter Param: 1, 2, 3, ... (or from 0
// with ZeroBased). It stops at the first page that holds no records.
type PageNumber struct {
	// Param is the query parameter, such as "page". Required.
	Param string
	// ZeroBased numbers the first page 0. Defaults to false: the first page is 1.
	ZeroBased bool
}

// Offset asks for each page by the position of its first record in the query parameter
// Param: 0, then the number of records read so far. It stops at the first page that
// holds no records. Set the page size in [Config.URL]'s query ("?limit=1000").
type Offset struct {
	// Param is the query parameter, such as "offset". Required.
	Param string
}

func (NextLink) pagination()   {}
func (LinkHeader) pagination() {}
func (NextCursor) pagination() {}
func (PageNumber) pagination() {}
func (Offset) pagination()     {}

// pager is one run's walk through the pages.
type pager struct {
	style  Pagination
	base   *url.URL // the first page's URL, the watermark included
	origin string   // its scheme and host, which next links must keep
	seed   maphash.Seed
	seen   map[uint64]int // a hash of each link or cursor followed, and its page
	offset int64
}

func newPager(style Pagination, base *url.URL) *pager {
	p := &pager{style: style, base: base, origin: origin(base), seed: maphash.MakeSeed()}
	switch style.(type) {
	case NextLink, *NextLink, LinkHeader, *LinkHeader, NextCursor, *NextCursor:
		p.seen = make(map[uint64]int)
	}
	return p
}

func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// first returns the URL of the first page.
func (p *pager) first() *url.URL {
	u := *p.base
	switch s := p.style.(type) {
	case PageNumber:
		u.RawQuery = setParam(u.RawQuery, s.Param, strconv.Itoa(p.number(0)))
	case Offset:
		u.RawQuery = setParam(u.RawQuery, s.Param, "0")
	case NextLink, LinkHeader:
		p.seen[maphash.String(p.seed, u.String())] = 1
	}
	return &u
}

func (p *pager) number(i int) int {
	if p.style.(PageNumber).ZeroBased {
		return i
	}
	return i + 1
}

// next returns the URL of the page after page n (1-based), which was fetched from cur,
// answered with header h and held info; nil when there is none.
//
// An empty page ends a PageNumber or Offset walk: past the last record, that is all such
// an API can answer. A next link or cursor is followed through empty pages, because an
// API that filters a page after cutting it (by permission, by deletion) may serve an
// empty page that is not the last. An empty page that hands back the very cursor or link
// that fetched it ends the walk too: that is how a feed says "nothing more for now, ask
// again later with this".
func (p *pager) next(n int, cur *url.URL, h http.Header, info pageInfo) (*url.URL, error) {
	switch s := p.style.(type) {
	case nil:
		return nil, nil
	case PageNumber:
		if info.records == 0 {
			return nil, nil
		}
		u := *p.base
		u.RawQuery = setParam(u.RawQuery, s.Param, strconv.Itoa(p.number(n)))
		return &u, nil
	case Offset:
		if info.records == 0 {
			return nil, nil
		}
		p.offset += int64(info.records)
		u := *p.base
		u.RawQuery = setParam(u.RawQuery, s.Param, strconv.FormatInt(p.offset, 10))
		return &u, nil
	case NextCursor:
		if info.next == "" || info.records == 0 && cur.Query().Get(s.Param) == info.next {
			return nil, nil
		}
		if err := p.once(info.next, n, "cursor"); err != nil {
			return nil, err
		}
		u := *p.base
		u.RawQuery = setParam(u.RawQuery, s.Param, info.next)
		return &u, nil
	case NextLink:
		return p.link(n, cur, info.next, info.records == 0)
	case LinkHeader:
		return p.link(n, cur, nextLink(h), info.records == 0)
	}
	return nil, fmt.Errorf("unknown pagination %T", p.style)
}

// link resolves a next link and checks it. From an empty page, a link back to the page
// itself ends the walk.
func (p *pager) link(n int, cur *url.URL, link string, empty bool) (*url.URL, error) {
	if link == "" {
		return nil, nil
	}
	ref, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("the next link does not parse: %w", err)
	}
	u := cur.ResolveReference(ref)
	u.Fragment, u.RawFragment = "", ""
	if empty && u.String() == cur.String() {
		return nil, nil
	}
	if origin(u) != p.origin {
		return nil, fmt.Errorf("%w: %s, not %s", ErrForeignHost, origin(u), p.origin)
	}
	if err := p.once(u.String(), n, "next link"); err != nil {
		return nil, err
	}
	return u, nil
}

// once records a link or cursor, failing when the run has followed it before.
func (p *pager) once(s string, n int, what string) error {
	h := maphash.String(p.seed, s)
	if prev, ok := p.seen[h]; ok {
		return fmt.Errorf("%w: page %d gives the %s that page %d gave", ErrRepeatedPage, n, what, prev)
	}
	p.seen[h] = n
	return nil
}

// setParam sets one query parameter, keeping the others as written.
func setParam(rawQuery, name, value string) string {
	q := url.Values{}
	if rawQuery != "" {
		var kept []string
		for _, kv := range strings.Split(rawQuery, "&") {
			k := kv
			if i := strings.IndexByte(kv, '='); i >= 0 {
				k = kv[:i]
			}
			if dk, err := url.QueryUnescape(k); err == nil && dk == name {
				continue
			}
			if kv != "" {
				kept = append(kept, kv)
			}
		}
		q.Set(name, value)
		return strings.Join(append(kept, q.Encode()), "&")
	}
	q.Set(name, value)
	return q.Encode()
}

// nextLink returns the target of the Link header's rel="next" link, or "".
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, l := range parseLinks(v) {
			for _, rel := range strings.Fields(l.rel) {
				if strings.EqualFold(rel, "next") {
					return l.target
				}
			}
		}
	}
	return ""
}

type link struct{ target, rel string }

// parseLinks reads an RFC 8288 Link header value: comma-separated "<target>; param=value"
// entries, where a value may be quoted. Malformed entries are skipped.
func parseLinks(v string) []link {
	var out []link
	i := 0
	skipSpace := func() {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
	}
	for i < len(v) {
		skipSpace()
		if i >= len(v) {
			break
		}
		if v[i] != '<' {
			// Not a link: skip to the next comma outside quotes.
			i = skipEntry(v, i)
			continue
		}
		end := strings.IndexByte(v[i:], '>')
		if end < 0 {
			break
		}
		l := link{target: v[i+1 : i+end]}
		i += end + 1
		for {
			skipSpace()
			if i >= len(v) || v[i] != ';' {
				break
			}
			i++
			skipSpace()
			start := i
			for i < len(v) && v[i] != '=' && v[i] != ';' && v[i] != ',' {
				i++
			}
			name := strings.TrimSpace(v[start:i])
			val := ""
			if i < len(v) && v[i] == '=' {
				i++
				skipSpace()
				if i < len(v) && v[i] == '"' {
					var b strings.Builder
					for i++; i < len(v) && v[i] != '"'; i++ {
						if v[i] == '\\' && i+1 < len(v) {
							i++
						}
						b.WriteByte(v[i])
					}
					i++ // the closing quote
					val = b.String()
				} else {
					start := i
					for i < len(v) && v[i] != ';' && v[i] != ',' {
						i++
					}
					val = strings.TrimSpace(v[start:i])
				}
			}
			if strings.EqualFold(name, "rel") && l.rel == "" {
				l.rel = val
			}
		}
		out = append(out, l)
		i = skipEntry(v, i)
	}
	return out
}

// skipEntry returns the index after the next comma at or after i that is outside quotes.
func skipEntry(v string, i int) int {
	quoted := false
	for ; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case '\\':
			if quoted {
				i++
			}
		case ',':
			if !quoted {
				return i + 1
			}
		}
	}
	return i
}
