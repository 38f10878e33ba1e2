package httpjson

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redact"
	"github.com/sluice-etl/sluice/internal/watermark"
)

// Source reads the records of a JSON HTTP API, page after page, as an [etl.Stream]. It
// implements [etl.Extractor] and [etl.Lineage]. A Source is safe for concurrent use;
// each call to [Source.Extract] returns an independent single-use stream.
type Source struct {
	cfg     Config
	url     *url.URL
	schema  etl.Schema
	cols    []column
	shape   *tree // the paths read from a JSON body, nil when the body is the array
	cursor  int   // index of the cursor column, -1 without one
	client  *http.Client
	timeout time.Duration
	name    string // the URL as errors and logs show it
	dataset etl.Dataset
	secrets []string // the Header values and URL credentials, hidden from quoted response bodies
}

var _ etl.Extractor = (*Source)(nil)
var _ etl.Lineage = (*Source)(nil)

// New checks cfg and returns a Source. It sends no request: pages are fetched when the
// stream is read.
func New(cfg Config) (*Source, error) {
	bad := func(format string, args ...any) (*Source, error) {
		return nil, fmt.Errorf("httpjson: config: "+format, args...)
	}
	if err := cfg.Schema.Validate(); err != nil {
		return nil, fmt.Errorf("httpjson: %w", err)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("URL %q is not an http:// or https:// URL", redact.URL(cfg.URL))
	}
	u.Fragment, u.RawFragment = "", ""
	s := &Source{cfg: cfg, url: u, cursor: -1}
	s.name = redact.URL(u.String())
	s.dataset = etl.Dataset{Namespace: u.Scheme + "://" + u.Host, Name: strings.TrimPrefix(u.Path, "/")}

	switch cfg.Format {
	case JSON, NDJSON:
	default:
		return bad("unknown Format %d", cfg.Format)
	}
	if cfg.Format == NDJSON && cfg.Records != "" {
		return bad("Records (%q) needs a JSON body; an NDJSON body is the records", cfg.Records)
	}
	for name := range cfg.Paths {
		if cfg.Schema.Index(name) < 0 {
			return bad("Paths names %q, which is not a column of Schema", name)
		}
	}
	for _, c := range cfg.Schema {
		if c.Type == 0 {
			c.Type = etl.TypeText
		}
		if c.Type > etl.TypeJSON {
			return bad("column %q has unknown type %s", c.Name, c.Type)
		}
		s.schema = append(s.schema, c)
		path := c.Name
		if p, ok := cfg.Paths[c.Name]; ok {
			path = p
		}
		s.cols = append(s.cols, column{name: c.Name, path: path, typ: c.Type, notNull: c.NotNull})
	}
	if _, err := newRecordDecoder(s.cols); err != nil {
		return bad("%v", err)
	}
	s.dataset.Schema = s.schema

	// Pointers work as well as values; the pager switches on values.
	switch p := cfg.Pagination.(type) {
	case *NextLink:
		s.cfg.Pagination = *p
	case *LinkHeader:
		s.cfg.Pagination = *p
	case *NextCursor:
		s.cfg.Pagination = *p
	case *PageNumber:
		s.cfg.Pagination = *p
	case *Offset:
		s.cfg.Pagination = *p
	}
	var nextPath string
	switch p := s.cfg.Pagination.(type) {
	case NextLink:
		if p.Path == "" {
			return bad("NextLink needs a Path")
		}
		nextPath = p.Path
	case NextCursor:
		if p.Path == "" || p.Param == "" {
			return bad("NextCursor needs a Path and a Param")
		}
		nextPath = p.Path
	case PageNumber:
		if p.Param == "" {
			return bad("PageNumber needs a Param")
		}
	case Offset:
		if p.Param == "" {
			return bad("Offset needs a Param")
		}
	}
	if nextPath != "" && cfg.Records == "" {
		if cfg.Format == NDJSON {
			return bad("an NDJSON body holds no next link or cursor; use LinkHeader, PageNumber or Offset")
		}
		return bad("a next link or cursor in the body needs the records under a path (Records), not a bare array")
	}
	if cfg.Records != "" {
		t := newTree()
		rn, err := t.add(cfg.Records)
		if err != nil {
			return bad("Records: %v", err)
		}
		rn.what = pageRecords
		if nextPath != "" {
			nn, err := t.add(nextPath)
			if err != nil {
				return bad("next page path: %v", err)
			}
			if nn.children != nil || nn.what != pageNone || rn.children != nil {
				return bad("the next page's path %q and Records %q overlap", nextPath, cfg.Records)
			}
			nn.what = pageNext
		}
		s.shape = t
	}

	if err := s.incremental(); err != nil {
		return nil, err
	}
	if cfg.MaxBadRecords < 0 {
		return bad("MaxBadRecords is %d, must not be negative", cfg.MaxBadRecords)
	}
	if s.cfg.MaxPages <= 0 {
		s.cfg.MaxPages = DefaultMaxPages
	}
	if s.cfg.MaxValueBytes <= 0 {
		s.cfg.MaxValueBytes = DefaultMaxValueBytes
	}
	r := &s.cfg.Retry
	if r.Attempts <= 0 {
		r.Attempts = DefaultAttempts
	}
	if r.Backoff <= 0 {
		r.Backoff = DefaultBackoff
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	if r.MaxWait <= 0 {
		r.MaxWait = DefaultMaxWait
	}
	s.timeout = cfg.Timeout
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	s.client = cfg.HTTPClient
	if s.client == nil {
		s.client = s.defaultClient()
	}
	s.cfg.Header = cfg.Header.Clone()
	s.secrets = append(headerSecrets(s.cfg.Header), redact.URLSecrets(cfg.URL)...)
	return s, nil
}

// incremental checks the incremental settings.
func (s *Source) incremental() error {
	cfg := &s.cfg
	bad := func(format string, args ...any) error {
		return fmt.Errorf("httpjson: config: "+format, args...)
	}
	if cfg.Deleted != "" {
		i := cfg.Schema.Index(cfg.Deleted)
		if i < 0 {
			return bad("Deleted names %q, which is not a column of Schema", cfg.Deleted)
		}
		if t := s.schema[i].Type; t == etl.TypeJSON || t == etl.TypeBytes {
			return bad("Deleted column %q is %s; use a boolean or a timestamp", cfg.Deleted, t)
		}
	}
	if cfg.LookBack < 0 {
		return bad("LookBack %s is negative", cfg.LookBack)
	}
	if cfg.NullCursor > NullCursorAlways {
		return bad("unknown NullCursor policy %d", cfg.NullCursor)
	}
	if cfg.Cursor == "" {
		switch {
		case cfg.Since != "":
			return bad("Since needs a Cursor: the column whose highest value is the watermark")
		case cfg.LookBack > 0:
			return bad("LookBack needs a Cursor")
		}
		return nil
	}
	s.cursor = cfg.Schema.Index(cfg.Cursor)
	if s.cursor < 0 {
		return bad("Cursor names %q, which is not a column of Schema", cfg.Cursor)
	}
	t := s.schema[s.cursor].Type
	switch t {
	case etl.TypeTimestamp, etl.TypeDate, etl.TypeInt64, etl.TypeNumeric, etl.TypeText:
	default:
		return bad("Cursor column %q is %s; use a timestamp, date, int64, numeric or text column", cfg.Cursor, t)
	}
	if cfg.LookBack > 0 && t != etl.TypeTimestamp && t != etl.TypeDate {
		return bad("LookBack needs a timestamp or date Cursor, and %q is %s", cfg.Cursor, t)
	}
	if cfg.Since == "" {
		return bad("Cursor needs Since: the query parameter that carries the watermark")
	}
	if cfg.SinceLayout == "" {
		cfg.SinceLayout = time.RFC3339
	}
	return nil
}

// defaultClient waits at most Timeout for response headers, and drops the configured
// headers on a redirect to another host: net/http drops Authorization there, but not an
// API key under a header of its own name.
func (s *Source) defaultClient() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		t = t.Clone()
	} else { // someone replaced it; start from net/http's defaults
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	t.ResponseHeaderTimeout = s.timeout
	return &http.Client{Transport: t, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if origin(req.URL) != origin(via[0].URL) {
			for k := range s.cfg.Header {
				req.Header.Del(k)
			}
		}
		return nil
	}}
}

// headerSecrets lists the header values to hide, and the words of each (the token of
// "Bearer <token>").
func headerSecrets(h http.Header) []string {
	var out []string
	for _, vs := range h {
		for _, v := range vs {
			if len(v) >= 4 {
				out = append(out, v)
			}
			for _, f := range strings.Fields(v) {
				if len(f) >= 8 && f != v {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// Schema returns the columns the stream's rows carry.
func (s *Source) Schema() etl.Schema { return s.schema }

// Datasets reports the API for lineage: namespace "https://host[:port]" and name the
// URL's path without its leading slash, never its query or credentials. It implements
// [etl.Lineage].
func (s *Source) Datasets() []etl.Dataset {
	return []etl.Dataset{s.dataset}
}

// Extract returns a lazy stream over the API's pages. No request is sent until iteration
// starts; the stream then reads the run's watermark, so a sink can set it under its lock
// first. The stream declares Cursor and Deleted (etl.Stream.Cursor and Deleted), which a
// sink's merge takes as its defaults. run may be nil: no watermark, and rejects are only
// counted against MaxBadRecords.
func (s *Source) Extract(ctx context.Context, run *etl.Run) (etl.Stream, error) {
	return etl.Stream{Schema: s.schema, Cursor: s.cfg.Cursor, Deleted: s.cfg.Deleted, Rows: func(yield func(etl.Row, error) bool) {
		s.stream(ctx, run, yield)
	}}, nil
}

// formatSince formats a watermark for the Since parameter.
func (s *Source) formatSince(v any) string {
	switch v := v.(type) {
	case time.Time:
		v = v.UTC()
		switch s.cfg.SinceLayout {
		case "unix":
			return strconv.FormatInt(v.Unix(), 10)
		case "unixmilli":
			return strconv.FormatInt(v.UnixMilli(), 10)
		}
		return v.Format(s.cfg.SinceLayout)
	case int64:
		return strconv.FormatInt(v, 10)
	case etl.Decimal:
		return string(v)
	case string:
		return v
	}
	return fmt.Sprint(v)
}

// coerceWatermark turns a stored watermark into the value the cursor column carries.
// Sinks may hand back a string for any kind, as after a round trip through text.
func coerceWatermark(v any, t etl.Type) (any, error) {
	switch t {
	case etl.TypeInt64:
		switch v := v.(type) {
		case int64:
			return v, nil
		case int:
			return int64(v), nil
		case string:
			return strconv.ParseInt(v, 10, 64)
		case etl.Decimal:
			return strconv.ParseInt(string(v), 10, 64)
		}
	case etl.TypeNumeric:
		switch v := v.(type) {
		case etl.Decimal:
			return v, nil
		case string:
			if watermark.IsDecimal(v) {
				return etl.Decimal(v), nil
			}
		case int64:
			return etl.Decimal(strconv.FormatInt(v, 10)), nil
		case int:
			return etl.Decimal(strconv.Itoa(v)), nil
		}
	case etl.TypeTimestamp, etl.TypeDate:
		switch v := v.(type) {
		case time.Time:
			return v.UTC(), nil
		case string:
			ts, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, err
			}
			return ts.UTC(), nil
		}
	case etl.TypeText:
		switch v := v.(type) {
		case string:
			return v, nil
		case etl.Decimal:
			return string(v), nil
		}
	}
	return nil, fmt.Errorf("a stored watermark of type %T (%v) cannot bound a %s cursor", v, v, t)
}
