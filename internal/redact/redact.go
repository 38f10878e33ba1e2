package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask is what a hidden secret is replaced by.
const Mask = "xxxxx"

var (
	// scheme finds the start of a URL.
	scheme = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://`)
	// key finds a keyword/value or query parameter name and its "=".
	key = regexp.MustCompile(`[\w.%-]+[ \t\r\n\v\f]*=[ \t\r\n\v\f]*`)
)

// secret is a span of the input that holds a password.
type secret struct {
	start, end int
	form       form
}

// form says how a secret is written, for decoding it in [Secrets].
type form int

const (
	formURL   form = iota // percent-encoded, in a URL's user info or query
	formKV                // a keyword/value value, maybe quoted, with backslash escapes
	formQuote             // the same, in quotes
)

// DSN returns s with every password replaced by [Mask]: the password of a URL's user
// info, the value of a URL query parameter or keyword whose name holds "password"
// (sslpassword and PASSWORD too), quoted or not, and the signature, credential and token
// parameters of a presigned URL (X-Amz-Signature, X-Amz-Credential,
// X-Amz-Security-Token and their kind). The rest of s is kept, so the result
// still names the host, user and database. s may be a URL, a keyword/value string, or
// text that quotes either; it need not parse.
func DSN(s string) string {
	spans := find(s)
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(Mask)
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// Secrets returns the passwords in s that [DSN] hides, each as written and, where it
// differs, as decoded (percent escapes, quotes and backslashes removed), for scrubbing
// text that may repeat them, such as a driver's error. Empty passwords are left out.
func Secrets(s string) []string {
	var out []string
	add := func(v string) {
		if v != "" {
			out = append(out, v)
		}
	}
	for _, sp := range find(s) {
		raw := s[sp.start:sp.end]
		add(raw)
		var dec string
		switch sp.form {
		case formURL:
			d, err := url.PathUnescape(raw)
			if err != nil {
				continue
			}
			dec = d
			if q, err := url.QueryUnescape(raw); err == nil && q != d {
				add(q)
			}
		case formQuote:
			inner := raw[1:]
			if len(raw) >= 2 && raw[len(raw)-1] == raw[0] && !escapedEnd(raw) {
				inner = raw[1 : len(raw)-1]
			}
			dec = unescape(inner)
		case formKV:
			dec = unescape(raw)
		}
		if dec != raw {
			add(dec)
		}
	}
	return out
}

// find returns the spans of s that hold passwords, in order and not overlapping. It
// scans left to right for whichever comes first, a URL or a key=, so that a URL inside a
// quoted password, or a key= inside a URL's password, is taken as part of the password.
func find(s string) []secret {
	var spans []secret
	i := 0
	if strings.HasPrefix(s, "//") { // a URL without its scheme, as url.Parse reads it
		next, sp, ok := userinfo(s, 2)
		if ok {
			spans = append(spans, sp)
		}
		i = next
	}
	// The next URL and key= found stay valid until scanning passes their start, so
	// long text is scanned in linear time, not once per key. Their indexes are of s.
	var u, k []int
	uDone, kDone := false, false
	for i < len(s) {
		if !uDone && (u == nil || u[0] < i) {
			u = indexFrom(scheme, s, i)
			uDone = u == nil
		}
		if !kDone && (k == nil || k[0] < i) {
			k = indexFrom(key, s, i)
			kDone = k == nil
		}
		switch {
		case u == nil && k == nil:
			return spans
		case u != nil && (k == nil || u[0] <= k[0]):
			next, sp, ok := userinfo(s, u[1])
			if ok {
				spans = append(spans, sp)
			}
			i = next
		default:
			name := strings.TrimRight(s[k[0]:k[1]], " \t\r\n\v\f=")
			if !isPasswordKey(name) {
				i = k[1]
				continue
			}
			sp := value(s, k[0], k[1])
			spans = append(spans, sp) // even empty: whether there is a password is no one's business
			i = sp.end
		}
	}
	return spans
}

// indexFrom returns the indexes in s of the first match of re at or after i, or nil.
func indexFrom(re *regexp.Regexp, s string, i int) []int {
	m := re.FindStringIndex(s[i:])
	if m != nil {
		m[0], m[1] = m[0]+i, m[1]+i
	}
	return m
}

// userinfo finds the password in the user info of the URL whose authority starts at
// auth, and returns where scanning goes on. A password may hold "@", and one that breaks
// URL parsing may hold anything, so the user info ends at the last "@" before the next URL
// that free text could hold (one that starts after a blank, a quote, a bracket, "," or
// "="), or, when there is none there, at the last "@" of s. Free text after a URL that
// holds an "@" may so be hidden with the password; more is hidden, never less.
func userinfo(s string, auth int) (next int, sp secret, ok bool) {
	at := atSign(s[auth:])
	if at < 0 {
		return auth, secret{}, false
	}
	ui := s[auth : auth+at]
	c := strings.IndexByte(ui, ':')
	if c < 0 {
		return auth + at + 1, secret{}, false
	}
	return auth + at + 1, secret{start: auth + c + 1, end: auth + at, form: formURL}, true
}

// atSign returns the index of the "@" that ends the user info at the start of rest, or
// -1, as [userinfo] describes.
func atSign(rest string) int {
	for j := 0; ; {
		m := indexFrom(scheme, rest, j)
		if m == nil {
			break
		}
		if m[0] > 0 && strings.IndexByte(" \t\r\n\v\f\"'`(<[,=", rest[m[0]-1]) >= 0 {
			if at := strings.LastIndexByte(rest[:m[0]], '@'); at >= 0 {
				return at
			}
			break
		}
		j = m[1]
	}
	return strings.LastIndexByte(rest, '@')
}

// isPasswordKey reports whether a keyword or query parameter name, percent-decoded and
// in any case, names a secret: a password, or what a presigned URL carries (AWS's
// X-Amz-Signature, X-Amz-Credential and X-Amz-Security-Token, Google's X-Goog-Signature,
// Azure's sig, an access token).
func isPasswordKey(name string) bool {
	if d, err := url.QueryUnescape(name); err == nil {
		name = d
	}
	name = strings.ToLower(name)
	for _, s := range []string{"password", "signature", "credential", "token", "secret"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	switch name {
	case "sig", "awsaccesskeyid", "apikey", "api_key":
		return true
	}
	return false
}

// value returns the span of the value whose key= runs from start to end. In a URL query
// (the key follows "?" or "&") it runs to the next "&"; a blank does not end it, as
// url.Parse lets one through. Otherwise it is a keyword/value value: quoted, to the
// closing quote, or bare, to the next blank; a backslash escapes the next byte in both.
func value(s string, start, end int) secret {
	if start > 0 && (s[start-1] == '?' || s[start-1] == '&') {
		j := strings.IndexByte(s[end:], '&')
		if j < 0 {
			return secret{start: end, end: len(s), form: formURL}
		}
		return secret{start: end, end: end + j, form: formURL}
	}
	j := end
	if j < len(s) && (s[j] == '\'' || s[j] == '"') {
		q := s[j]
		for j++; j < len(s); j++ {
			if s[j] == '\\' {
				j++
				continue
			}
			if s[j] == q {
				return secret{start: end, end: j + 1, form: formQuote}
			}
		}
		return secret{start: end, end: len(s), form: formQuote}
	}
	for ; j < len(s); j++ {
		if s[j] == '\\' {
			j++
			continue
		}
		if strings.IndexByte(" \t\r\n\v\f", s[j]) >= 0 {
			break
		}
	}
	return secret{start: end, end: min(j, len(s)), form: formKV}
}

// unescape removes the backslash escapes of a keyword/value value.
func unescape(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// escapedEnd reports whether the last byte of a quoted value is escaped, so is not its
// closing quote.
func escapedEnd(v string) bool {
	n := 0
	for i := len(v) - 2; i >= 0 && v[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// URL returns u with its secrets hidden, for naming an http, https or s3 URL in a log or
// an error: the password of its user info becomes [Mask], as does a user name given
// without a password (a token, as in https://TOKEN@host/), and its query and fragment,
// where signed URLs keep their signatures, become "?...". Scheme, host and path are kept
// as written. u need not parse. Any other string, a local path or a database URL, goes
// through [DSN].
func URL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return DSN(u)
	}
	switch strings.ToLower(u[:i]) {
	case "http", "https", "s3":
	default:
		return DSN(u)
	}
	// Not url.Parse: a password that holds "#", "?" or "/" and starts with digits parses
	// as a port, and the rest as a path, query or fragment.
	var b strings.Builder
	auth := i + 3
	b.WriteString(u[:auth])
	rest := u[auth:]
	s3 := strings.EqualFold(u[:i], "s3")
	if at := atSign(rest); at >= 0 {
		ui := rest[:at]
		switch c := strings.IndexByte(ui, ':'); {
		case c >= 0 && s3: // an access key ID and its secret
			b.WriteString(Mask + ":" + Mask + "@")
			rest = rest[at+1:]
		case c >= 0:
			b.WriteString(ui[:c+1] + Mask + "@")
			rest = rest[at+1:]
		case !strings.ContainsAny(ui, "/?#"): // else the "@" is in the path or query
			b.WriteString(Mask + "@")
			rest = rest[at+1:]
		}
	}
	if j := strings.IndexAny(rest, "?#"); j >= 0 {
		b.WriteString(rest[:j] + "?...")
	} else {
		b.WriteString(rest)
	}
	return b.String()
}
