package httpjson

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/idletimeout"
	"github.com/sluice-etl/sluice/internal/redact"
	"github.com/sluice-etl/sluice/internal/watermark"
)

// streamState is what one stream carries from page to page.
type streamState struct {
	run *etl.Run
	log *slog.Logger
	dec *recordDecoder
	rd  *reader
	bad int // records rejected so far

	stored  any       // the stored watermark, as the cursor's type; nil for none
	highest any       // the highest cursor value yielded
	served  time.Time // when the first page was served: the bound of a time watermark

	bodySeed maphash.Seed
	lastBody uint64 // hash of the previous page's body
	records  int64  // records read, for the context check
}

// ctxCheckEvery is how many records pass between checks of ctx, on top of the checks
// each request and read makes.
const ctxCheckEvery = 1024

func (s *Source) stream(ctx context.Context, run *etl.Run, yield func(etl.Row, error) bool) {
	dec, err := newRecordDecoder(s.cols)
	if err != nil { // New checked it
		yield(nil, err)
		return
	}
	st := &streamState{run: run, dec: dec, log: s.cfg.Logger, bodySeed: maphash.MakeSeed()}
	if st.log == nil && run != nil {
		st.log = run.Log()
	}
	if st.log == nil {
		st.log = slog.New(slog.DiscardHandler)
	}
	first := s.url
	if s.cursor >= 0 && run != nil {
		if v, ok := run.Watermark(); ok {
			stored, err := coerceWatermark(v, s.schema[s.cursor].Type)
			if err != nil {
				yield(nil, &Error{URL: s.name, Page: 1, Column: s.cfg.Cursor, Err: fmt.Errorf("stored watermark: %w", err)})
				return
			}
			st.stored = stored
			since := stored
			if t, ok := stored.(time.Time); ok {
				since = t.Add(-s.cfg.LookBack)
			}
			u := *s.url
			u.RawQuery = setParam(u.RawQuery, s.cfg.Since, s.formatSince(since))
			first = &u
		}
	}
	st.log.DebugContext(ctx, "httpjson: reading", slog.String("url", s.name),
		slog.Any("watermark", st.stored), slog.Duration("look_back", s.cfg.LookBack))

	pg := newPager(s.cfg.Pagination, first)
	u := pg.first()
	for n := 1; u != nil; n++ {
		if n > s.cfg.MaxPages {
			yield(nil, &Error{URL: redact.URL(u.String()), Page: n, Err: fmt.Errorf("%w (%d): raise MaxPages if the API really has more", ErrTooManyPages, s.cfg.MaxPages)})
			return
		}
		info, h, err := s.page(ctx, st, u, n, yield)
		if errors.Is(err, errStop) {
			return
		}
		if err == nil {
			var next *url.URL
			next, err = pg.next(n, u, h, info)
			if err != nil {
				err = &Error{URL: redact.URL(u.String()), Page: n, Err: err}
			}
			u = next
		}
		if err != nil {
			yield(nil, err)
			return
		}
	}
	s.advance(st)
}

// advance reports the new watermark: the highest cursor yielded, held at the time the
// first page was served, and never below the stored one.
func (s *Source) advance(st *streamState) {
	if s.cursor < 0 || st.run == nil || st.highest == nil {
		return
	}
	v := st.highest
	if t, ok := v.(time.Time); ok && !s.cfg.NoUpperBound && !st.served.IsZero() && t.After(st.served) {
		bound := st.served.UTC()
		if s.schema[s.cursor].Type == etl.TypeDate {
			bound = time.Date(bound.Year(), bound.Month(), bound.Day(), 0, 0, 0, 0, time.UTC)
		}
		v = bound
	}
	if st.stored == nil || watermark.Greater(v, st.stored) {
		st.run.Advance(v)
	}
}

// page fetches page n from u and streams its records, retrying as Retry allows. It
// returns what the body said about the next page and the response's header.
func (s *Source) page(ctx context.Context, st *streamState, u *url.URL, n int, yield func(etl.Row, error) bool) (pageInfo, http.Header, error) {
	name := redact.URL(u.String())
	for attempt := 1; ; attempt++ {
		resp, wait, err := s.get(ctx, st, u, name, n, attempt)
		if err == nil && resp.StatusCode == http.StatusNoContent {
			_ = resp.Body.Close()
			return pageInfo{found: true}, resp.Header, nil // no body: an empty page
		}
		if err == nil {
			var info pageInfo
			var consumed int
			info, consumed, err = s.body(ctx, st, resp, name, n, yield)
			if err == nil || errors.Is(err, errStop) {
				return info, resp.Header, err
			}
			var re *readError
			if !errors.As(err, &re) || consumed > 0 || ctx.Err() != nil {
				// Rows of this page went on already: fetching it again could hand them on
				// twice, so the run fails and the sink rolls back.
				return info, nil, err
			}
		}
		if wait < 0 {
			return pageInfo{}, nil, err // not worth retrying, or too long a wait
		}
		if attempt >= s.cfg.Retry.Attempts || ctx.Err() != nil {
			var e *Error
			if errors.As(err, &e) && attempt > 1 {
				e.Err = fmt.Errorf("%w (attempt %d of %d)", e.Err, attempt, s.cfg.Retry.Attempts)
			}
			return pageInfo{}, nil, err
		}
		if wait == 0 {
			wait = s.backoff(attempt)
		}
		st.log.InfoContext(ctx, "httpjson: retrying", slog.String("url", name), slog.Int("page", n),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("error", err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return pageInfo{}, nil, &Error{URL: name, Page: n, Err: context.Cause(ctx)}
		case <-t.C:
		}
	}
}

// backoff returns the wait after failed attempt a (1-based): Backoff doubled a-1 times,
// at most MaxBackoff, less up to half of it at random, so that clients that failed
// together do not return together.
func (s *Source) backoff(a int) time.Duration {
	d := s.cfg.Retry.Backoff
	for i := 1; i < a && d < s.cfg.Retry.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.Retry.MaxBackoff)
	return d - rand.N(d/2+1)
}

// get sends one request. On failure, wait says what to do: 0 to retry after the backoff,
// more to retry after that long (the server's Retry-After), -1 not to retry.
func (s *Source) get(ctx context.Context, st *streamState, u *url.URL, name string, n, attempt int) (*http.Response, time.Duration, error) {
	reqCtx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel(nil)
		return nil, -1, &Error{URL: name, Page: n, Err: err}
	}
	for k, vs := range s.cfg.Header {
		req.Header[k] = vs
	}
	if req.Header.Get("Accept") == "" {
		if s.cfg.Format == NDJSON {
			req.Header.Set("Accept", "application/x-ndjson, application/json;q=0.9")
		} else {
			req.Header.Set("Accept", "application/json")
		}
	}
	sent := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		cancel(nil)
		// *url.Error repeats the URL, query string and all; name it ourselves.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return nil, 0, &Error{URL: name, Page: n, Err: fmt.Errorf("GET: %w", err)}
	}
	st.log.DebugContext(ctx, "httpjson: page", slog.String("url", name), slog.Int("page", n),
		slog.Int("attempt", attempt), slog.Int("status", resp.StatusCode))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if st.served.IsZero() {
			st.served = sent
			if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
				st.served = d
			}
		}
		resp.Body = idletimeout.NewBody(reqCtx, cancel, resp.Body, s.timeout)
		return resp, 0, nil
	}
	he := &HTTPError{URL: name, Page: n, StatusCode: resp.StatusCode, Status: resp.Status, Attempts: attempt}
	he.Body = s.scrub(resp.Body)
	_ = resp.Body.Close()
	cancel(nil)
	if !retryable(resp.StatusCode) {
		return nil, -1, he
	}
	wait, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
	if ok && wait > s.cfg.Retry.MaxWait {
		he.RetryAfter = wait
		return nil, -1, he
	}
	return nil, wait, he
}

// retryable reports the statuses worth another try: 408, 429, and the 5xx that a server
// under load or a proxy in front of it answers.
func retryable(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return code >= 500 && code <= 599
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date. ok is false
// when there is none, or it does not parse.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second) // far longer than any MaxWait
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// scrub reads the start of an error body for the error message, hiding the configured
// header values in case the server echoes a credential.
func (s *Source) scrub(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 256))
	text := strings.ToValidUTF8(string(b), "\uFFFD")
	for _, sec := range s.secrets {
		text = strings.ReplaceAll(text, sec, redact.Mask)
	}
	return strings.TrimSpace(text)
}

// body streams the records of one page body to yield. It returns how many records it
// consumed (yielded or rejected), so that the caller knows whether the page may be
// fetched again.
func (s *Source) body(ctx context.Context, st *streamState, resp *http.Response, name string, n int, yield func(etl.Row, error) bool) (pageInfo, int, error) {
	defer resp.Body.Close()
	h := maphash.Hash{}
	h.SetSeed(st.bodySeed)
	if st.rd == nil {
		st.rd = newReader(io.TeeReader(resp.Body, &h), s.cfg.MaxValueBytes)
	} else {
		st.rd.reset(io.TeeReader(resp.Body, &h))
	}
	r := st.rd
	consumed, current := 0, 0
	p := &pageDecoder{ndjson: s.cfg.Format == NDJSON, shape: s.shape}
	if s.shape != nil {
		p.seen = make([]bool, s.shape.nodes)
	}
	p.decode = func(i int) (*fieldError, error) {
		current = i
		if st.records++; st.records%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		return st.dec.decode(r)
	}
	p.emit = func(i int, fe *fieldError) error {
		consumed++
		current = 0
		if fe != nil {
			return s.reject(ctx, st, name, n, i, fe)
		}
		if s.cursor >= 0 {
			v := st.dec.row[s.cursor]
			if v == nil && s.cfg.NullCursor == NullCursorError {
				c := s.cols[s.cursor]
				return &Error{URL: name, Page: n, Record: i, Field: c.path, Column: c.name,
					Err: fmt.Errorf("%w: fix the data at the source, or set NullCursor to NullCursorAlways", ErrNullCursor)}
			}
			if v != nil && (st.highest == nil || watermark.Greater(v, st.highest)) {
				st.highest = v
			}
		}
		if !yield(st.dec.row, nil) {
			return errStop
		}
		return nil
	}
	info, err := p.read(r)
	r.shrink()
	if err != nil {
		if errors.Is(err, errStop) {
			return info, consumed, err
		}
		var e *Error
		if errors.As(err, &e) {
			return info, consumed, err // a reject past the budget, already located
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		return info, consumed, &Error{URL: name, Page: n, Record: current, Err: err}
	}
	sum := h.Sum64()
	if info.records > 0 && n > 1 && sum == st.lastBody {
		return info, consumed, &Error{URL: name, Page: n, Err: fmt.Errorf("%w: page %d has the same body as page %d", ErrRepeatedPage, n, n-1)}
	}
	st.lastBody = sum
	return info, consumed, nil
}

// reject skips a bad record, or fails when it is one too many.
func (s *Source) reject(ctx context.Context, st *streamState, name string, page, rec int, fe *fieldError) error {
	e := &Error{URL: name, Page: page, Record: rec, Field: fe.path, Err: fe.err}
	if fe.col >= 0 {
		e.Column = s.cols[fe.col].name
	}
	st.bad++
	if st.bad > s.cfg.MaxBadRecords {
		if s.cfg.MaxBadRecords == 0 {
			return e
		}
		return fmt.Errorf("%w (more than %d): %w", ErrTooManyBadRecords, s.cfg.MaxBadRecords, e)
	}
	cause := fe.err
	if fe.path != "" && fe.path != e.Column {
		cause = fmt.Errorf("field %q: %w", fe.path, cause)
	}
	if st.run != nil {
		st.run.Reject(etl.Reject{Source: pageName(name, page), Line: int64(rec), Column: e.Column, Err: cause})
	}
	st.log.DebugContext(ctx, "httpjson: record rejected", slog.String("url", name), slog.Int("page", page),
		slog.Int("record", rec), slog.String("column", e.Column), slog.Any("error", fe.err))
	return nil
}
