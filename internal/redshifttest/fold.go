package redshifttest

import "strings"

// foldIdentifiers returns sql with the ASCII letters of every double-quoted identifier
// lowered, as a default Redshift cluster reads it: "the case of name identifiers is not
// preserved, and instead converted to lowercase, when you do not enclose identifiers
// within double quotation marks or when you set enable_case_sensitive_identifier to
// false" (Database Developer Guide, enable_case_sensitive_identifier; false is the
// default). Unquoted names PostgreSQL folds already. String literals are copied as they
// are, read with Redshift's rules (” and backslash escapes), so a quote inside a literal
// is never taken for an identifier.
func foldIdentifiers(sql string) string {
	if !strings.ContainsRune(sql, '"') {
		return sql
	}
	b := []byte(sql)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\'':
			for i++; i < len(b); i++ {
				if b[i] == '\\' {
					i++
					continue
				}
				if b[i] == '\'' {
					if i+1 < len(b) && b[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		case '"':
			for i++; i < len(b); i++ {
				if b[i] == '"' {
					if i+1 < len(b) && b[i+1] == '"' {
						i++
						continue
					}
					break
				}
				if c := b[i]; c >= 'A' && c <= 'Z' {
					b[i] = c + 'a' - 'A'
				}
			}
		case '-':
			if i+1 < len(b) && b[i+1] == '-' {
				for i < len(b) && b[i] != '\n' {
					i++
				}
			}
		}
	}
	return string(b)
}

// foldName lowers the ASCII letters of one identifier, as foldIdentifiers does inside
// quotes.
func foldName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
