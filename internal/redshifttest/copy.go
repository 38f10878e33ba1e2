package redshifttest

import (
	"fmt"
	"strconv"
	"strings"
)

// CopyCommand is a parsed Redshift COPY ... FROM 's3://...' statement.
type CopyCommand struct {
	// Table is the target's name parts (schema, table), unquoted; unquoted names are
	// folded to lower case.
	Table []string
	// Columns lists the column list's names, or nil for all columns.
	Columns []string
	// From is the s3:// URL: a manifest with Manifest, a key prefix without.
	From string
	// IAMRole is the role ARN, or "default".
	IAMRole string
	// Region is the REGION option, or "".
	Region string
	// Manifest is set by MANIFEST.
	Manifest bool
	// CSV is set by CSV or FORMAT AS CSV.
	CSV bool
	// GZIP is set by GZIP.
	GZIP bool
	// IgnoreHeader is IGNOREHEADER's count of lines skipped at the start of each object.
	IgnoreHeader int
	// Null is NULL AS's string, when HasNull.
	Null    string
	HasNull bool
	// EmptyAsNull is set by EMPTYASNULL.
	EmptyAsNull bool
	// TimeFormat and DateFormat are the TIMEFORMAT and DATEFORMAT strings, or "".
	TimeFormat, DateFormat string
	// RoundDec is set by ROUNDEC: decimals with more fractional digits than the column's
	// scale are rounded rather than truncated.
	RoundDec bool
}

type tokKind int

const (
	tokWord tokKind = iota + 1
	tokIdent
	tokString
	tokNumber
	tokPunct
)

type token struct {
	kind tokKind
	text string // words upper-cased; identifiers and strings unescaped
}

// tokenize splits a statement into words, quoted identifiers, string literals (read with
// Redshift's escapes: ” and backslash), numbers and punctuation.
func tokenize(sql string) ([]token, error) {
	var toks []token
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"':
			var b strings.Builder
			i++
			for {
				if i >= len(sql) {
					return nil, fmt.Errorf("unterminated quoted identifier")
				}
				if sql[i] == '"' {
					if i+1 < len(sql) && sql[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(sql[i])
				i++
			}
			toks = append(toks, token{tokIdent, b.String()})
		case c == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(sql) {
					return nil, fmt.Errorf("unterminated string literal")
				}
				switch sql[i] {
				case '\'':
					if i+1 < len(sql) && sql[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
				case '\\':
					if i+1 >= len(sql) {
						return nil, fmt.Errorf("unterminated string literal")
					}
					b.WriteByte(sql[i+1])
					i += 2
					continue
				default:
					b.WriteByte(sql[i])
					i++
					continue
				}
				break
			}
			toks = append(toks, token{tokString, b.String()})
		case c >= '0' && c <= '9':
			j := i
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			toks = append(toks, token{tokNumber, sql[i:j]})
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(sql) && (sql[j] == '_' || sql[j] == '$' || sql[j] >= 'a' && sql[j] <= 'z' || sql[j] >= 'A' && sql[j] <= 'Z' || sql[j] >= '0' && sql[j] <= '9') {
				j++
			}
			toks = append(toks, token{tokWord, strings.ToUpper(sql[i:j])})
			i = j
		case c == '(' || c == ')' || c == ',' || c == '.' || c == ';':
			toks = append(toks, token{tokPunct, string(c)})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q at offset %d", c, i)
		}
	}
	return toks, nil
}

// IsS3Copy reports whether sql is a COPY from an s3:// URL, the statement the harness
// intercepts.
func IsS3Copy(sql string) bool {
	toks, err := tokenize(sql)
	if err != nil || len(toks) == 0 || toks[0].kind != tokWord || toks[0].text != "COPY" {
		return false
	}
	for i, t := range toks {
		if t.kind == tokWord && t.text == "FROM" && i+1 < len(toks) && toks[i+1].kind == tokString {
			return strings.HasPrefix(toks[i+1].text, "s3://")
		}
	}
	return false
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() (token, bool) {
	if p.pos >= len(p.toks) {
		return token{}, false
	}
	return p.toks[p.pos], true
}

func (p *parser) next() (token, bool) {
	t, ok := p.peek()
	if ok {
		p.pos++
	}
	return t, ok
}

func (p *parser) isWord(w string) bool {
	t, ok := p.peek()
	return ok && t.kind == tokWord && t.text == w
}

func (p *parser) isPunct(s string) bool {
	t, ok := p.peek()
	return ok && t.kind == tokPunct && t.text == s
}

func (p *parser) ident() (string, error) {
	t, ok := p.next()
	switch {
	case !ok:
		return "", fmt.Errorf("expected an identifier at the end")
	case t.kind == tokIdent:
		// Kept as written: the harness folds quoted names as the session's
		// enable_case_sensitive_identifier says, after parsing.
		return t.text, nil
	case t.kind == tokWord:
		return strings.ToLower(t.text), nil
	}
	return "", fmt.Errorf("expected an identifier, got %q", t.text)
}

func (p *parser) str(what string) (string, error) {
	p.optAS()
	t, ok := p.next()
	if !ok || t.kind != tokString {
		return "", fmt.Errorf("%s takes a string literal", what)
	}
	return t.text, nil
}

func (p *parser) optAS() {
	if p.isWord("AS") {
		p.pos++
	}
}

// ParseCopy parses a Redshift COPY from S3. It rejects any option it does not know, so a
// statement the sink builds can never pass here and fail on a real cluster for an option
// the harness ignored.
func ParseCopy(sql string) (*CopyCommand, error) {
	toks, err := tokenize(sql)
	if err != nil {
		return nil, fmt.Errorf("redshifttest: COPY: %w", err)
	}
	c, err := parseCopy(&parser{toks: toks})
	if err != nil {
		return nil, fmt.Errorf("redshifttest: COPY: %w", err)
	}
	return c, nil
}

func parseCopy(p *parser) (*CopyCommand, error) {
	if !p.isWord("COPY") {
		return nil, fmt.Errorf("not a COPY statement")
	}
	p.pos++
	c := &CopyCommand{}
	for {
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		c.Table = append(c.Table, name)
		if !p.isPunct(".") {
			break
		}
		p.pos++
		if len(c.Table) == 3 {
			return nil, fmt.Errorf("table name has too many parts")
		}
	}
	if p.isPunct("(") {
		p.pos++
		for {
			name, err := p.ident()
			if err != nil {
				return nil, err
			}
			c.Columns = append(c.Columns, name)
			if p.isPunct(",") {
				p.pos++
				continue
			}
			if !p.isPunct(")") {
				return nil, fmt.Errorf("column list: expected , or )")
			}
			p.pos++
			break
		}
	}
	if !p.isWord("FROM") {
		return nil, fmt.Errorf("expected FROM")
	}
	p.pos++
	from, ok := p.next()
	if !ok || from.kind != tokString || !strings.HasPrefix(from.text, "s3://") {
		return nil, fmt.Errorf("FROM takes an 's3://' literal")
	}
	c.From = from.text
	seen := map[string]bool{}
	for {
		t, ok := p.next()
		if !ok || (t.kind == tokPunct && t.text == ";") {
			break
		}
		if t.kind != tokWord {
			return nil, fmt.Errorf("unexpected %q among the options", t.text)
		}
		opt := t.text
		if opt == "FORMAT" {
			p.optAS()
			if !p.isWord("CSV") {
				return nil, fmt.Errorf("unsupported FORMAT")
			}
			p.pos++
			opt = "CSV"
		}
		if seen[opt] {
			return nil, fmt.Errorf("option %s given twice", opt)
		}
		seen[opt] = true
		var err error
		switch opt {
		case "IAM_ROLE":
			if p.isWord("DEFAULT") {
				p.pos++
				c.IAMRole = "default"
			} else if c.IAMRole, err = p.str(opt); err == nil && c.IAMRole == "" {
				err = fmt.Errorf("IAM_ROLE is empty")
			}
		case "REGION":
			c.Region, err = p.str(opt)
		case "MANIFEST":
			c.Manifest = true
		case "CSV":
			c.CSV = true
			if p.isWord("QUOTE") {
				p.pos++
				var q string
				if q, err = p.str("QUOTE"); err == nil && q != `"` {
					err = fmt.Errorf("QUOTE %q is not supported", q)
				}
			}
		case "GZIP":
			c.GZIP = true
		case "IGNOREHEADER":
			p.optAS()
			n, ok := p.next()
			if !ok || n.kind != tokNumber {
				return nil, fmt.Errorf("IGNOREHEADER takes a number")
			}
			if c.IgnoreHeader, err = strconv.Atoi(n.text); err != nil {
				return nil, fmt.Errorf("IGNOREHEADER: %w", err)
			}
		case "NULL":
			c.Null, err = p.str(opt)
			c.HasNull = true
		case "EMPTYASNULL":
			c.EmptyAsNull = true
		case "ROUNDEC":
			c.RoundDec = true
		case "TIMEFORMAT":
			if c.TimeFormat, err = p.str(opt); err == nil && !strings.EqualFold(c.TimeFormat, "auto") {
				err = fmt.Errorf("TIMEFORMAT %q is not supported (only 'auto')", c.TimeFormat)
			}
		case "DATEFORMAT":
			if c.DateFormat, err = p.str(opt); err == nil && !strings.EqualFold(c.DateFormat, "auto") && c.DateFormat != "YYYY-MM-DD" {
				err = fmt.Errorf("DATEFORMAT %q is not supported", c.DateFormat)
			}
		case "DELIMITER":
			var d string
			if d, err = p.str(opt); err == nil && d != "," {
				err = fmt.Errorf("DELIMITER %q is not supported", d)
			}
		case "COMPUPDATE", "STATUPDATE":
			v, ok := p.next()
			if !ok || v.kind != tokWord || (v.text != "ON" && v.text != "OFF" && v.text != "TRUE" && v.text != "FALSE") {
				return nil, fmt.Errorf("%s takes ON or OFF", opt)
			}
		default:
			return nil, fmt.Errorf("unknown option %s", opt)
		}
		if err != nil {
			return nil, err
		}
	}
	if c.IAMRole == "" {
		return nil, fmt.Errorf("no IAM_ROLE: this harness requires role-based authorization")
	}
	if !c.CSV {
		return nil, fmt.Errorf("only CSV input is supported")
	}
	return c, nil
}
