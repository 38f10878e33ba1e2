package main

import (
	"net/url"
	"strings"
)

// displayURL returns a source or target as this program prints it, with its secrets
// hidden: the password of a URL, or a user name that stands alone (a token, as in
// https://TOKEN@host/), becomes xxxxx, and a query, where signed URLs keep their
// signatures, becomes "?...". Anything that is not a URL (a local path, sqlite:PATH) is
// printed as given. A URL that does not parse is cut to its scheme, since a password
// holding "#", "?" or "/" is what makes it unparsable.
func displayURL(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return s[:i+3] + "... (does not parse)"
	}
	if u.User != nil {
		if u.Scheme == "s3" { // an access key ID and maybe its secret: both go
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword("xxxxx", "xxxxx")
			} else {
				u.User = url.User("xxxxx")
			}
		} else if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else if u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "s3" {
			u.User = url.User("xxxxx")
		}
	}
	if u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery {
		return u.String()
	}
	u.RawQuery, u.Fragment, u.ForceQuery = "", "", false
	return u.String() + "?..."
}
